"""ABC tools: header fields, validate, repair and the abc2midi cross-check.

Valid tunes come from music21's folk corpus; broken ones are those tunes with one
thing spoiled, so each test knows exactly which message to expect.
"""
import json
import re
import shutil
from pathlib import Path

import music21
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abcgen.abc import check as abc
from abcgen.abc.check import Problem, Report, abc2midi_errors, repair, validate
from abcgen.abc.header import (parse_key, parse_meter, parse_tempo,
                               parse_unit, split_tune, tempo_bpm)
from abcgen.errors import FieldError

CORPUS = Path(music21.__file__).parent / "corpus"


def tune(path: str, x: str) -> str:
    """One tune from a corpus tune book, by its X: number."""
    text = (CORPUS / path).read_text(encoding="latin-1")
    for chunk in re.split(r"(?m)^(?=X:)", text):
        if re.match(rf"X:\s*{x}\s*$", chunk.split("\n", 1)[0]):
            return chunk
    raise LookupError(f"{path} has no X:{x}")


def book(path: str) -> list[str]:
    text = (CORPUS / path).read_text(encoding="latin-1")
    return [c for c in re.split(r"(?m)^(?=X:)", text) if c.startswith("X:")]


# A double jig with pickups, three parts, first and second endings (O'Neill's 1112).
CRABS = tune("oneills1850/1031-1115.abc", "1112")

H68 = "X:1\nT:Test\nM:6/8\nL:1/8\nK:G\n"


def messages(report: Report, level: str = "error") -> list[str]:
    return [p.message for p in report.problems if p.level == level]


# ---------------------------------------------------------------------------------------
# header fields

@pytest.mark.parametrize("text,canon", [
    ("4/4", "4/4"), (" 6/8 ", "6/8"), ("C", "C"), ("C|", "C|"), ("c |", "C|"),
    ("none", "none"), ("NONE", "none"), ("9/8", "9/8"), ("12/8", "12/8"), ("3/4", "3/4"),
    ("2/2", "2/2"), ("2+3/8", "2+3/8"), ("(2+2+3)/8", "2+2+3/8"), ("06/08", "6/8"),
])
def test_parse_meter_accepts(text, canon):
    assert parse_meter(text) == canon


@pytest.mark.parametrize("text", ["foo", "", "4/0", "4/3", "0/4", "6/8/2", "4", "C||", "x/8"])
def test_parse_meter_rejects_naming_the_field(text):
    with pytest.raises(FieldError) as e:
        parse_meter(text)
    assert e.value.field == "meter"
    assert "6/8" in e.value.message  # says how to write one


@pytest.mark.parametrize("text,canon", [
    ("1/8", "1/8"), (" 1/16 ", "1/16"), ("1/4", "1/4"), ("1/1", "1/1"), ("1/64", "1/64"),
])
def test_parse_unit_accepts(text, canon):
    assert parse_unit(text) == canon


@pytest.mark.parametrize("text", ["1/3", "2/8", "x", "", "1/128", "1/0", "8"])
def test_parse_unit_rejects(text):
    with pytest.raises(FieldError) as e:
        parse_unit(text)
    assert e.value.field == "unit"


@pytest.mark.parametrize("text,canon", [
    ("G", "G"), ("Bb", "Bb"), ("F#", "F#"), ("Gmaj", "G"), ("G major", "G"), ("G Ionian", "G"),
    ("Em", "Emin"), ("Bm", "Bmin"), ("F#m", "F#min"), ("E minor", "Emin"), ("Emin", "Emin"),
    ("A aeolian", "Amin"), ("Aaeo", "Amin"), ("Dmix", "Dmix"), ("D Mix", "Dmix"),
    ("DMIX", "Dmix"), ("D mixolydian", "Dmix"), ("Dmixo", "Dmix"), ("Ador", "Ador"),
    ("A Dorian", "Ador"), ("E phrygian", "Ephr"), ("F lyd", "Flyd"), ("B locrian", "Bloc"),
    ("HP", "HP"), ("Hp", "Hp"), ("none", "none"), ("G clef=bass", "G"),
    ("Am treble", "Amin"), (" D ", "D"), ("Ebmaj", "Eb"), ("bb", "Bb"),
])
def test_parse_key_accepts_abc_spellings(text, canon):
    assert parse_key(text) == canon


@pytest.mark.parametrize("text", ["Xyz", "", "H", "Dfoo", "D mi", "D mix extra", "Gmaj minor",
                                  "#G", "Dmixm", "Bn", "clef=treble"])
def test_parse_key_rejects_naming_the_field(text):
    with pytest.raises(FieldError) as e:
        parse_key(text)
    assert e.value.field == "key"
    assert "e.g. D, Dmix, Ador, Bm, F#min" in e.value.message


@pytest.mark.parametrize("text,canon", [
    ("1/4=120", "1/4=120"), ("120", "1/4=120"), (" 1/4 = 96 ", "1/4=96"), ("3/8=80", "3/8=80"),
    ('"Allegro" 1/4=120', "1/4=120"), ('1/2=60 "Amoroso"', "1/2=60"), ("", None),
    (None, None), ('"Slow"', None),
])
def test_parse_tempo(text, canon):
    assert parse_tempo(text) == canon


@pytest.mark.parametrize("text", ["fast", "1/4=1000", "1/4=5", "1/3=100", '"Slow 1/4=90',
                                  "C=120", "1/4=", "0/4=100"])
def test_parse_tempo_rejects(text):
    with pytest.raises(FieldError) as e:
        parse_tempo(text)
    assert e.value.field == "tempo"


@pytest.mark.parametrize("q,bpm", [("1/4=100", 100.0), ("3/8=80", 120.0), ("1/2=60", 120.0),
                                   ("1/8=200", 100.0), (None, 120.0), ("", 120.0),
                                   ("nonsense", 120.0), ("1/4 3/8 1/4 3/8=40", 200.0),
                                   ('"Allegro" 1/4 1/8=80', 120.0), ("1/0 1/0=80", 120.0)])
def test_tempo_bpm_counts_quarter_notes(q, bpm):
    assert tempo_bpm(q) == pytest.approx(bpm)


def test_tempo_bpm_default():
    assert tempo_bpm(None, default=90.0) == 90.0


def test_split_tune_header_and_body():
    fields, body = split_tune("X:3\n%%scale 0.7\nT:A Tune\n% a comment\nM:6/8\nL:1/8\n"
                              "K:D % the key\n|:DFA dAF:|\nM:9/8\nabc abc abc|\n")
    assert fields == [("X", "3"), ("T", "A Tune"), ("M", "6/8"), ("L", "1/8"), ("K", "D")]
    assert body == "|:DFA dAF:|\nM:9/8\nabc abc abc|\n"


def test_split_tune_with_no_key_keeps_the_music_as_body():
    fields, body = split_tune("X:1\nT:t\nabc|def|")
    assert fields == [("X", "1"), ("T", "t")]
    assert body == "abc|def|"


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="XTMLK:|[]{}()\"!%\\/<>-abcABCz0123456789 \n^_=,'", max_size=120))
def test_never_raises_on_any_text(text):
    """validate catches its own failures and reports "could not be checked", so a Report always
    comes back: what counts is that none of these texts needed that safety net."""
    fields, body = split_tune(text)
    letters = [letter for letter, _ in fields]
    assert text.endswith(body) and "K" not in letters[:-1]     # the header ends at its first K:
    report = validate(text)
    assert not [p for p in report.problems if "could not be checked" in p.message], report.text()
    d = report.to_dict()
    assert json.loads(json.dumps(d)) == d
    fixed, changes = repair(text)
    assert all(changes), changes
    if not changes:
        assert fixed == text          # nothing to repair: the text comes back as it was


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_field_parsers_raise_only_field_errors(text):
    for parse in (parse_meter, parse_unit, parse_key, parse_tempo):
        try:
            parse(text)
        except FieldError:
            pass


# ---------------------------------------------------------------------------------------
# validate: real tunes

REAL_TUNES = [
    ("oneills1850/1031-1115.abc", "1112"),  # pickups, endings |1 :|2, three parts
    ("oneills1850/1116-1135_ml.abc", "1127"),  # 9/8 then M:6/8 mid-tune, pickups
    ("ryansMammoth/ElectricHornpipe.abc", "1"),  # K: change mid-tune, fingering "4", \ lines
    ("ryansMammoth/HopkinsHornpipe.abc", "1"),  # chords [B2D2], bowings u v, repeats
    ("oneills1850/1276-1375.abc", "1322"),  # |1 ... :|2 with no spaces, short endings
    ("oneills1850/0101-0200.abc", "141"),  # grace notes, broken rhythm, rolls, annotations
    ("oneills1850/0001-0050.abc", "2"),  # ties, triplets of slurred notes (3(A2G2F2)
    ("oneills1850/1625-1700.abc", "1649"),  # triplets, broken rhythms, three parts
    ("airdsAirs/book4.abc", "0647"),  # trills
    ("oneills1850/1176-1275.abc", "1185"),  # Z in a bar
]


@pytest.mark.parametrize("path,x", REAL_TUNES)
def test_real_tunes_validate_clean(path, x):
    report = validate(tune(path, x))
    assert report.problems == [], report.text()
    assert report.valid and report.parsed
    assert report.bars_checked >= 3
    assert report.bars_ok == report.bars_checked
    assert report.text() == f"OK: {report.bars_checked} bars, all the right length"


def test_most_of_a_tune_book_validates_clean():
    tunes = book("oneills1850/0001-0050.abc") + book("oneills1850/1625-1700.abc")
    reports = [validate(t) for t in tunes]
    assert all(r.parsed for r in reports)
    clean = sum(r.valid for r in reports) / len(reports)
    assert clean >= 0.8, clean


def test_crabs_bar_count():
    # 3 parts x (pickup + 8 bars with a second ending) as written
    report = validate(CRABS)
    assert report.valid
    assert report.bars_checked > 20


# ---------------------------------------------------------------------------------------
# validate: broken tunes

def test_overfull_bar_names_bar_line_and_column():
    bad = CRABS.replace("(G2A) (B2c)|", "(G2A) (B2cc)|", 1)
    report = validate(bad)
    assert not report.valid
    [p] = report.errors
    assert p.message == "bar 2 has 7 eighths, 6/8 needs 6"
    assert p.bar == 2
    line = bad.split("\n")[p.line - 1]
    assert line[p.col - 1:].startswith("(G2A) (B2cc)")
    assert report.bars_ok == report.bars_checked - 1


def test_short_bar_mid_tune_is_an_error():
    report = validate(H68 + "GAB cde | fga ba | gfe dcB | A3 G3 |]\n")
    assert messages(report) == ["bar 2 has 5 eighths, 6/8 needs 6"]


def test_bar_counted_in_sixteenths_when_needed():
    report = validate("X:1\nM:2/4\nL:1/8\nK:D\nAB cd | AB cd/e | AB cd |]\n")
    assert messages(report) == ["bar 2 has 9 sixteenths, 2/4 needs 8"]


def test_pickup_and_final_bars_may_be_short():
    report = validate(H68 + "D | GAB cde | fga bag | d3 d2 |]\n")
    assert report.problems == []
    assert report.bars_checked == 2 and report.bars_ok == 2


def test_short_bars_around_repeats_that_add_up_are_fine():
    tunes = [
        H68 + "|: D | GAB cde | fga bag | d3 d2 :|\n",  # pickup + last bar of the repeat
        H68 + "GAB cde | fga bag | d3 d2 || D | GAB cde | fga bag | d6 |]\n",  # next part
        H68 + "|: GAB cde | fga bag |1 d3 d3 :|2 d3 d2 || D | GAB cde | d6 |]\n",  # endings
        H68 + "|: GAB cde | fga b |1 ag :|2 a2 |]\n",  # bar before the endings
    ]
    for t in tunes:
        report = validate(t)
        assert report.problems == [], (t, report.text())


def test_triplets_broken_rhythm_grace_notes_chords_symbols_ties():
    report = validate("X:1\nM:4/4\nL:1/8\nK:D\n"
                      '"D"(3ABc d2 A>B A<B | {g}A2 [DFA]2 "G"[G2B2] z2 | d4- d2 !trill!c2 |'
                      " (3:2:3A2B2c2 d2 x2 | Z2 | (6abcabc d2 e2 z/ a/ a |]\n")
    assert report.problems == [], report.text()
    assert report.bars_checked == 5 and report.bars_ok == 5


def test_compound_meter_tuplets():
    # in 6/8 a (2 puts two eighths in the time of three
    report = validate(H68 + "(2AB (2cd | ABc def |]\n")
    assert report.problems == [], report.text()


def test_inline_and_line_meter_and_unit_changes_are_honoured():
    report = validate("X:1\nM:3/4\nL:1/8\nK:G\nABc def | [M:2/4] AB cd | AB cd |\n"
                      "M:6/8\nABc def | [L:1/16] A4B4c4 |\nL:1/4\nA3/2 B3/2 | ABC |]\n")
    assert report.problems == [], report.text()
    assert report.bars_checked == 7 and report.bars_ok == 7


def test_meter_change_bar_length_checked_against_new_meter():
    report = validate("X:1\nM:3/4\nL:1/8\nK:G\nABc def | [M:2/4] ABc def | AB cd |]\n")
    assert messages(report) == ["bar 2 has 6 eighths, 2/4 needs 4"]


def test_unclosed_repeat():
    bad = H68 + "|: GAB cde | fga bag :|\n|: GAB cde | fga bag |]\n"
    report = validate(bad)
    assert messages(report) == ["a repeat opened with |: is never closed with :|"]
    assert report.errors[0].line == 7 and report.errors[0].col == 1


def test_unclosed_repeat_in_a_real_tune():
    # open the last part with |: and drop its endings, so nothing closes the repeat
    head, ends, tail = CRABS.rpartition("|1 cAF F=EF:|2 cAF G2||")
    bad = (head + "| cAF G2||" + tail).replace("||\nG2z A2z|", "||\n|:G2z A2z|")
    assert validate(head + "| cAF G2||" + tail).valid
    report = validate(bad)
    assert messages(report) == ["a repeat opened with |: is never closed with :|"]
    assert bad.split("\n")[report.errors[0].line - 1].startswith("|:G2z")


def test_bad_key_is_an_error_naming_k():
    report = validate(CRABS.replace("K:Gm", "K:Xyz"))
    assert not report.valid
    [p] = report.errors
    assert p.message.startswith("K: ") and "Xyz" in p.message
    assert p.line == CRABS.split("\n").index("K:Gm") + 1


def test_bad_meter_is_an_error_and_does_not_raise():
    report = validate(CRABS.replace("M:6/8", "M:foo"))
    assert not report.valid
    assert any(m.startswith("M: 'foo' is not a meter") for m in messages(report))


def test_bad_unit_and_tempo():
    report = validate("X:1\nM:6/8\nL:1/7\nQ:fast\nK:G\nGAB cde |]\n")
    assert any(m.startswith("L: ") for m in messages(report))
    assert any(m.startswith("Q: ") for m in messages(report, "warning"))


def test_missing_header_fields():
    report = validate("T:t\nGAB cde|\n")
    assert any(m.startswith("no K: key line") for m in messages(report))
    report = validate("M:6/8\nK:G\nGAB cde|]\n")
    warnings = " ".join(messages(report, "warning"))
    assert "no X:" in warnings and "no L:" in warnings and "no M:" not in warnings
    assert report.valid  # the standard's defaults are allowed, with warnings
    report = validate("X:1\nL:1/8\nK:G\nGAB cde|]\n")
    assert [m.split(",")[0] for m in messages(report, "warning")] == ["no M: meter"]
    assert report.valid and report.bars_checked == 0


def test_garbage_text_is_an_error():
    bad = CRABS.replace("d|gag gf=e|", "This is a lovely tune, play it slowly\nd|gag gf=e|")
    report = validate(bad)
    assert not report.valid
    texts = [p for p in report.errors if p.message.startswith("unexpected text")]
    assert texts and "'This'" in texts[0].message
    assert bad.split("\n")[texts[0].line - 1].startswith("This is")


def test_decorations_are_not_garbage():
    report = validate("X:1\nM:4/4\nL:1/8\nK:D\nTA2 uB vc MaMgMf ~d2 Hd | vkg2 uTc .d.e S|]\n")
    assert not [m for m in messages(report) if m.startswith("unexpected")], report.text()


def test_unclosed_chord():
    report = validate(H68 + "GAB cde | [CEG abc | fga bag |]\n")
    assert "a chord opened with [ is never closed with ]" in messages(report)
    assert report.parsed  # music21 reads all up to |] as one chord, without complaint
    report = validate(H68 + "GAB cde | [CEG abc | fga bag |\n")
    assert "a chord opened with [ is never closed with ]" in messages(report)
    assert not report.parsed


def test_unclosed_grace_quote_and_zero_division():
    assert "grace notes opened with { are never closed with }" in \
        messages(validate(H68 + "GAB {g cde |]\n"))
    assert any("never closed with \"" in m for m in messages(validate(H68 + '"Am GAB cde|]\n')))
    report = validate(H68 + "GAB c/0de |]\n")
    assert not report.parsed
    assert any("divides by zero" in m for m in messages(report))


def test_unbalanced_slurs_and_ties_warn():
    report = validate(H68 + "(GAB cde | fga) bag) | d3 d3-|]\n")
    warnings = messages(report, "warning")
    assert "a slur is closed with ) but was never opened" in warnings
    assert "a tie - leads to no note" in warnings
    assert report.valid


def test_empty_and_noteless_tunes():
    assert messages(validate("")) == ["the tune is empty"]
    assert "the tune has no notes" in messages(validate(H68))


def test_report_to_dict_and_text():
    report = validate(H68 + "GAB cde | fga bag f |]\n")
    d = report.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["valid"] is False and d["bars_checked"] == 2 and d["bars_ok"] == 1
    assert d["problems"][0] == {"level": "error", "message": "bar 2 has 7 eighths, 6/8 needs 6",
                                "bar": 2, "line": 6, "col": 11}
    assert report.text() == "error (line 6, column 11): bar 2 has 7 eighths, 6/8 needs 6"
    assert Report([Problem("warning", "x")], parsed=True).valid


def test_validate_survives_internal_failures(monkeypatch):
    def boom(text):
        raise RuntimeError("bug")
    monkeypatch.setattr(abc.abc_scan, "scan", boom)
    report = validate(CRABS)
    assert not report.valid and "could not be checked" in report.errors[0].message


# ---------------------------------------------------------------------------------------
# repair

def test_repair_adds_a_final_bar_line():
    fixed, changes = repair(H68 + "GAB cde | fga bag")
    assert fixed.rstrip().endswith("bag|]")
    assert changes == ["added a final bar line"]


def test_repair_drops_a_cut_off_bar():
    fixed, changes = repair(H68 + "GAB cde | fga bag | d3 d")
    assert fixed == H68 + "GAB cde | fga bag |]\n"
    assert changes[0].startswith("dropped the incomplete last bar")
    fixed, _ = repair(H68 + 'GAB cde | fga bag | "Am [CE')
    assert fixed == H68 + "GAB cde | fga bag |]\n"


def test_repair_keeps_a_last_bar_that_completes_the_pickup():
    fixed, changes = repair(H68 + "D | GAB cde | fga bag | d3 d2")
    assert fixed.rstrip().endswith("d3 d2|]")
    assert changes == ["added a final bar line"]


def test_repair_closes_an_open_repeat_and_ending():
    fixed, changes = repair(H68 + "|: GAB cde | fga bag | d3 d3 |]\n")
    assert fixed == H68 + "|: GAB cde | fga bag | d3 d3 :|\n"
    assert changes == ["closed the repeat at the end with :|"]
    fixed, changes = repair(H68 + "GAB cde | fga bag |1 d3 d3")
    assert fixed.rstrip().endswith("|1 d3 d3 :|")
    assert changes == ["closed the first ending at the end with :|"]
    fixed, changes = repair(H68 + "GAB cde | fga bag | d6 |: ab")
    assert fixed == H68 + "GAB cde | fga bag | d6 |]\n"


def test_repair_orders_the_header():
    fixed, changes = repair("K:G\nM:6/8\nT:Test\nL:1/8\nGAB cde | fga bag |]\n")
    assert fixed == "X:1\nT:Test\nM:6/8\nL:1/8\nK:G\nGAB cde | fga bag |]\n"
    assert changes == ["put the header fields in the usual order (X, T, ..., M, L, Q, K last)",
                       "added the reference number X:1"]
    fixed, _ = repair("X:1\nQ:1/4=90\nK:G\nL:1/8\nT:Test\nM:6/8\nC:Trad\nGAB cde|]\n")
    assert fixed == "X:1\nT:Test\nC:Trad\nM:6/8\nL:1/8\nQ:1/4=90\nK:G\nGAB cde|]\n"


def test_repair_leaves_good_tunes_alone():
    for path, x in REAL_TUNES[:5]:
        text = tune(path, x)
        assert repair(text) == (text, [])


CUT_TUNES = [tune(p, x) for p, x in REAL_TUNES[:6]]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CUT_TUNES), st.floats(0, 1))
def test_repair_of_a_cut_off_tune_is_valid_and_idempotent(text, where):
    _, body = split_tune(text)
    head = len(text) - len(body)
    cut = text[:head + int(where * len(body.rstrip()))]
    fixed, changes = repair(cut)
    again, more = repair(fixed)
    assert more == [] and again == fixed
    report = validate(fixed)
    if report.bars_checked:  # something musical was left
        assert report.valid, (cut, fixed, report.text())


# ---------------------------------------------------------------------------------------
# abc2midi

needs_abc2midi = pytest.mark.skipif(shutil.which("abc2midi") is None,
                                    reason="abc2midi is not installed")


@needs_abc2midi
def test_abc2midi_good_tune_has_no_bar_complaints():
    errors = abc2midi_errors(tune("ryansMammoth/HopkinsHornpipe.abc", "1"))
    assert errors == []


@needs_abc2midi
def test_abc2midi_bad_tune_reports_bar_and_repeat():
    errors = abc2midi_errors(H68 + "|: GAB cde | fga bag f | d3 d3 |\n")
    assert any("Bar" in e and "7" in e for e in errors), errors
    assert any("Missing :|" in e for e in errors), errors
    assert all(e.startswith(("Error", "Warning")) for e in errors)


def test_abc2midi_missing(monkeypatch):
    monkeypatch.setattr(abc.shutil, "which", lambda name: None)
    assert abc2midi_errors(CRABS) is None
