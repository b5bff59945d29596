"""The one reader of ABC bodies (abcgen.abc.reader): the lexer's tokens, read whole lines or one
character at a time, the bar measure (tuplets, broken rhythm, chords, multi-bar rests), endings
and section delimiters; and that the other readers (analysis, form codes, data, notation, audio)
read a tune the way it does, default unit length included."""
from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcgen.abc import scan as abc_scan
from abcgen.judge import analysis
from abcgen.render import audio
from abcgen.learn import data
from abcgen.abc import form
from abcgen.render import notation
from abcgen.abc.reader import (Lexer, Measure, Token, chord_multiplier, ending_numbers,
                               is_section_delimiter, multiplier, tuplet_ratio)

KINDS = {"note", "rest", "multirest", "chord", "grace", "quote", "decoration", "letter", "field",
         "bar", "ending", "tuplet", "slur", "slur_end", "tie", "broken", "overlay", "space",
         "comment", "number", "stray", "accidental", "unclosed"}


# ----------------------------------------------------------------------------------------
# tokens

def test_a_line_with_every_kind_of_token():
    line = '"Am"!trill!~T^A,2 [CE]3/2 {ag}(3z2x/ Z2|1 a>>b<c-(d)&[K:G] 5 ^ ?[2 :: +f+ [|]:|]%c'
    expected = [
        ("quote", '"Am"', 0), ("decoration", "!trill!", 4), ("decoration", "~", 11),
        ("letter", "T", 12), ("note", "^A,2", 13), ("space", " ", 17), ("chord", "[CE]3/2", 18),
        ("space", " ", 25), ("grace", "{ag}", 26), ("tuplet", "(3", 30), ("rest", "z2", 32),
        ("rest", "x/", 34), ("space", " ", 36), ("multirest", "Z2", 37), ("bar", "|", 39),
        ("ending", "1", 40), ("space", " ", 41), ("note", "a", 42), ("broken", ">>", 43),
        ("note", "b", 45), ("broken", "<", 46), ("note", "c", 47), ("tie", "-", 48),
        ("slur", "(", 49), ("note", "d", 50), ("slur_end", ")", 51), ("overlay", "&", 52),
        ("field", "[K:G]", 53), ("space", " ", 58), ("number", "5", 59), ("space", " ", 60),
        ("accidental", "^", 61), ("space", " ", 62), ("stray", "?", 63), ("ending", "[2", 64),
        ("space", " ", 66), ("bar", "::", 67), ("space", " ", 69), ("decoration", "+f+", 70),
        ("space", " ", 73), ("bar", "[|]", 74), ("bar", ":|]", 77), ("comment", "%c", 80),
    ]
    base = 1000  # offsets count from where the line starts in the text
    assert Lexer().line(line, base) == [Token(k, t, s + base) for k, t, s in expected]


@pytest.mark.parametrize("line, tokens", [
    ("A3/2B//", [("note", "A3/2"), ("note", "B//")]),
    ("^^c'2__B,,=e", [("note", "^^c'2"), ("note", "__B,,"), ("note", "=e")]),
    ("(3:2:4abcd", [("tuplet", "(3:2:4")] + [("note", c) for c in "abcd"]),
    ("(3::2ab", [("tuplet", "(3::2"), ("note", "a"), ("note", "b")]),
    ("(ab)", [("slur", "("), ("note", "a"), ("note", "b"), ("slur_end", ")")]),
    ("|:a:|2b||c|]", [("bar", "|:"), ("note", "a"), ("bar", ":|"), ("ending", "2"), ("note", "b"),
                      ("bar", "||"), ("note", "c"), ("bar", "|]")]),
    ("[1,3 a :|[2-4 b", [("ending", "[1,3"), ("space", " "), ("note", "a"), ("space", " "),
                         ("bar", ":|"), ("ending", "[2-4"), ("space", " "), ("note", "b")]),
    ("a | 2", [("note", "a"), ("space", " "), ("bar", "|"), ("space", " "), ("number", "2")]),
    ("[C|D]", [("unclosed", "chord"), ("note", "C"), ("bar", "|"), ("note", "D"), ("stray", "]")]),
    ('"open a', [("unclosed", "quote")]),
    ("a !b c", [("note", "a"), ("space", " "), ("unclosed", "decoration"), ("note", "b"),
                ("space", " "), ("note", "c")]),
])
def test_tokens(line, tokens):
    assert [(t.kind, t.text) for t in Lexer().line(line, 0)] == tokens


ABCISH = st.text(alphabet=list("ABCDEFGabcgzxZX|:[]()\"!{}<>-^_=,'/23 %K+&.~T\n"), max_size=60)


@settings(max_examples=400, deadline=None)
@given(ABCISH)
def test_the_same_tokens_fed_one_character_at_a_time_or_a_line_at_a_time(text):
    by_line, base, lexer = [], 0, Lexer()
    for line in text.split("\n"):
        by_line += lexer.line(line, base)
        base += len(line) + 1
    by_char, lexer = [], Lexer()
    for c in text + "\n":
        by_char += lexer.feed(c)
    assert by_char == by_line


@settings(max_examples=400, deadline=None)
@given(ABCISH.filter(lambda t: "\n" not in t))
def test_tokens_are_the_text_they_stand_for_in_order(line):
    tokens = Lexer().line(line, 0)
    starts = [t.start for t in tokens]
    assert starts == sorted(set(starts))
    for t in tokens:
        assert t.kind in KINDS
        if t.kind != "unclosed":  # its text names the group left open
            assert line[t.start:t.start + len(t.text)] == t.text


# Line ends: a chord, a bar line and colons before "[|" are read whole.

def test_a_chord_that_ends_a_line_is_a_chord():
    assert [(t.kind, t.text) for t in Lexer().line("G [CE]2", 0)] == [
        ("note", "G"), ("space", " "), ("chord", "[CE]2")]


def test_a_line_leaves_no_token_open():
    lexer = Lexer()
    assert [t.text for t in lexer.line("a [|]:|", 0)] == ["a", " ", "[|]", ":|"]
    assert lexer.pending is None


def test_colons_before_a_thick_bar_line_are_a_repeat():
    assert [(t.kind, t.text) for t in Lexer().line(":[|]", 0)] == [("bar", ":[|]")]


# ----------------------------------------------------------------------------------------
# measuring bars

def notes(measure: Measure, *mults) -> list[F]:
    return [measure.note(F(m)) for m in mults]


@pytest.mark.parametrize("meter, tuplet, count, each", [
    ("4/4", "(3", 3, F(1, 12)),    # three in the time of two
    ("4/4", "(2", 2, F(3, 16)),    # two in the time of three
    ("4/4", "(4", 4, F(3, 32)),
    ("4/4", "(5", 5, F(1, 20)),    # (5: in the time of 2 in simple meter...
    ("6/8", "(5", 5, F(3, 40)),    # ... and of 3 in compound meter
    ("9/8", "(7", 7, F(3, 56)),
    ("6/8", "(3", 3, F(1, 12)),    # (3 is always in the time of two
    ("6/8", "(2", 2, F(3, 16)),
    ("2+3/8", "(5", 5, F(1, 20)),  # 2+3/8 is not compound
    ("4/4", "(3:4", 3, F(1, 6)),
    ("4/4", "(3:2:4", 4, F(1, 12)),
    ("4/4", "(3::2", 2, F(1, 12)),
])
def test_tuplets(meter, tuplet, count, each):
    m = Measure(meter, F(1, 8))
    m.tuplet(tuplet)
    assert notes(m, *[1] * count) == [each] * count
    assert m.note(F(1)) == F(1, 8)  # the tuplet is over


def test_a_tuplet_runs_over_a_bar_line():
    m = Measure("3/8", F(1, 8))
    m.note(F(1))
    m.tuplet("(3")
    notes(m, 1, 1)
    assert m.close() == F(1, 8) + F(1, 6)
    assert m.note(F(1)) == F(1, 12)
    assert tuplet_ratio("(3", "3/8") == (3, F(2, 3), 3)


@pytest.mark.parametrize("sign, first, second", [
    (">", F(3, 16), F(1, 16)), (">>", F(7, 32), F(1, 32)), (">>>", F(15, 64), F(1, 64)),
    ("<", F(1, 16), F(3, 16)), ("<<", F(1, 32), F(7, 32)),
])
def test_broken_rhythm(sign, first, second):
    m = Measure("4/4", F(1, 8))
    m.note(F(1))
    assert m.broken_rhythm(sign)
    assert m.length == first
    assert m.note(F(1)) == second
    assert m.close() == F(1, 4)


def test_broken_rhythm_needs_a_note_in_the_bar_before_it():
    m = Measure("4/4", F(1, 8))
    assert not m.broken_rhythm(">")
    assert m.note(F(1)) == F(1, 8)


def test_broken_rhythm_inside_a_tuplet():
    m = Measure("4/4", F(1, 8))
    m.tuplet("(3")
    m.note(F(1))
    m.broken_rhythm(">")
    m.note(F(1))
    m.note(F(1))
    assert m.close() == F(1, 4)


@pytest.mark.parametrize("chord, mult", [
    ("[CE]", F(1)), ("[CE]2", F(2)), ("[C2E2]", F(2)), ("[C2E]3/2", F(3)), ("[C/E/]2", F(1)),
    ("[CE]/", F(1, 2)), ('["Am"C2E]', F(2)), ("[!f!C3E]", F(3)), ("[]", None), ("[C/0E]", None),
])
def test_a_chord_lasts_as_long_as_its_first_note_times_its_length(chord, mult):
    assert chord_multiplier(chord) == mult


@pytest.mark.parametrize("kind, text, mult", [
    ("note", "A", F(1)), ("note", "^a'3/2", F(3, 2)), ("note", "B//", F(1, 4)),
    ("note", "c/4", F(1, 4)), ("note", "d3/", F(3, 2)), ("note", "e/0", None), ("rest", "z4", F(4)),
    ("rest", "x/", F(1, 2)), ("chord", "[CEG]2", F(2)),
])
def test_multiplier(kind, text, mult):
    assert multiplier(Token(kind, text, 0)) == mult


def test_a_multi_bar_rest_fills_its_bars():
    m = Measure("3/4", F(1, 8))
    m.fill(2)
    assert m.close() == F(3, 2)
    free = Measure("none", F(1, 8))
    free.fill()
    assert free.close() == 0


def test_meter_and_unit_changes():
    m = Measure("4/4", F(1, 8))
    m.set_field("L", "1/16")
    assert m.note(F(1)) == F(1, 16)
    m.set_field("M", "6/8")
    assert m.bar_length == F(3, 4)
    m.tuplet("(5")
    assert m.note(F(1)) == F(3, 80)


# ----------------------------------------------------------------------------------------
# endings and sections

@pytest.mark.parametrize("label, passes", [
    ("1", {1}), ("2", {2}), ("[2", {2}), ("1,3", {1, 3}), ("1-3", {1, 2, 3}),
    ("1-3,5", {1, 2, 3, 5}), ("12", {12}),
])
def test_ending_numbers(label, passes):
    assert ending_numbers(label) == passes


@pytest.mark.parametrize("bar, ends", [
    ("|", False), ("[|]", False), ("||", True), ("|]", True), ("[|", True), ("|:", True),
    (":|", True), ("::", True), (":|:", True), ("::|", True), (":|]", True),
])
def test_is_section_delimiter(bar, ends):
    assert is_section_delimiter(bar) is ends


def test_form_codes_read_the_invisible_bar_line_as_no_section_end():
    # "[|]" is an invisible bar line (abcm2ps, ABC 2.1's liberal bar lines), not "[|" and "]"
    assert form.body_form("D [|] GABc|defg|]\n").sections == 1
    assert form.body_form("D [|] GABc|defg|]\n").bars == [3]
    assert form.body_form("GABc|defg [|]|]\nGABc|defg|]\n").bars == [2, 2]


# ----------------------------------------------------------------------------------------
# every reader measures a tune as the validator does

TUNES = [
    "X:1\nM:4/4\nL:1/8\nK:D\n(3ABc d2 A2-A>B|[CE]2 [D2F2]/ z/z/ A<B A2|(3:2:3ABc d2 e4|]\n",
    "X:1\nM:6/8\nL:1/8\nK:G\nG>>AB (2cd|(4ABcd e3|[G3B3] z3|\n[M:3/4]A2 B>c d2|]\n",
    "X:1\nM:2/4\nK:Ador\nA2B2 c2d2|e2-e>d c4|A3/2B/ c2 d2 e2|]\n",
]


@pytest.mark.parametrize("tune", TUNES)
def test_the_musical_report_measures_bars_as_the_validator_does(tune):
    read = [b.length for b in analysis.read(tune).bars]
    assert read == [b.length for b in abc_scan.scan(tune).bars]
    assert all(b.length == b.expected for b in analysis.read(tune).bars)


def test_a_note_before_a_broken_rhythm_gains_its_share_only_once_tied():
    bar = analysis.read("X:1\nM:3/4\nL:1/8\nK:C\nc2-c>d e2|\n").bars[0]
    assert [n.length for n in bar.notes] == [F(1, 4) + F(3, 16), F(1, 16), F(1, 4)]
    assert bar.length == F(3, 4)


# ----------------------------------------------------------------------------------------
# the default unit length is ABC's everywhere: 1/16 when the bar is shorter than 3/4

def test_data_writes_the_default_unit_of_an_additive_meter():
    assert "\nL:1/16\n" in data.normalize("X:1\nM:2+3/8\nK:D\nABcde|ABcde|\n")
    assert "\nL:1/8\n" in data.normalize("X:1\nM:3/4\nK:D\nA2B2c2|\n")


def test_the_musical_report_reads_a_two_four_tune_without_l_in_sixteenths():
    piece = analysis.read("X:1\nM:2/4\nK:D\nABcd efga|\n")
    assert piece.unit == F(1, 16)
    assert [b.length for b in piece.bars] == [F(1, 2)]


@pytest.mark.parametrize("header, unit", [
    ("M:2/4\n", "1/16"), ("M:2+3/8\n", "1/16"), ("M:6/8\n", "1/8"), ("", "1/8"), ("M:C|\n", "1/8")])
def test_notation_gives_music21_the_default_unit(header, unit):
    text = notation.first_tune(f"X:1\n{header}K:D\nABcd|\n")
    assert f"\nL:{unit}\n" in text
    assert notation.first_tune(f"X:1\n{header}L:1/4\nK:D\nABcd|\n").count("L:") == 1


def test_music21_reads_an_additive_meter_without_l_in_sixteenths():
    score = notation.parse_score("X:1\nM:2+3/8\nK:D\nABcde|\n")
    assert [n.quarterLength for n in score.recurse().notes] == [0.25] * 5


def test_the_tempo_of_a_tune_without_l_is_that_of_its_default_unit():
    implicit = audio.default_bpm("X:1\nM:2/4\nK:D\nABcd|\n")
    assert implicit == audio.default_bpm("X:1\nM:2/4\nL:1/16\nK:D\nABcd|\n")
    assert implicit == audio.default_bpm("X:1\nM:2/4\nL:1/8\nK:D\nABcd|\n") / 2


def test_continue_keeps_the_default_unit_of_a_tune_without_l():
    from abcgen.keep import tune_header
    assert tune_header("X:1\nM:2/4\nK:D\nABcd|\n").unit == "1/16"
