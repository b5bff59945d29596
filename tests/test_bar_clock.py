"""The bar clock: which next characters keep a tune readable and its bars the right length."""
import pytest
import torch

from abcgen.abc import check as abctools
from fractions import Fraction

from abcgen.abc.tune import TuneState
from abcgen.abc.accepts import allows, next_state
from abcgen.abc.choices import Empty, Full
from abcgen.sampling.asked import Header, Settings
from abcgen.sampling.sample import Sampler
from abcgen.learn.vocab import END, Vocab


def clock(text, meter="4/4", unit="1/8"):
    return TuneState(meter, unit).feed_text(text)


def ok(text, c, meter="4/4", unit="1/8"):
    return allows(next_state(clock(text, meter, unit)), c)


# Real-world bodies the clock must accept character by character: pickups, parts that complete
# the pickup, endings, triplets, broken rhythms, ties, chords, grace notes, decorations.
ACCEPTED = [
    ("6/8", "A|dfe dBA|B2A F2A|dfe dBA|1 B2A d2:|2 B2A d3|]\n"),
    ("4/4", "B | GEEF GABe | GEF^D E2 E :|\nB | efeB efeB | dedA F2 Dd |]\n"),
    ("4/4", "|:(3DEF GF E2 DB,|A,2 ~D2 A>B c>A|[DF]2 {g}f2- fedc|d8:|\n"),
    ("2/4", "AB/c/ d>e|f2 f/e/d|e2- e/d/c/B/|A2 z2||\n"),
    ("9/8", "e2f g2e d2B|c2e d2B A3|]\n"),
    ("3/4", "D2 G2 B2|d4 B2|[DG]2 e2 d2|d6|]\n"),
]


@pytest.mark.parametrize("meter,body", ACCEPTED)
def test_accepts_well_formed_tunes(meter, body):
    c = TuneState(meter, "1/8")
    for i, ch in enumerate(body + END):
        assert allows(next_state(c), ch), f"{body[:i]!r} then {ch!r} was forbidden: {next_state(c)}"
        if ch != END:
            c = c.feed(ch)


def test_full_bar_must_close():
    assert ok("ABcd efga", "|") and ok("ABcd efga", " ")
    assert not ok("ABcd efga", "b") and not ok("ABcd efga", "2") and not ok("ABcd efga", "\n")


def test_an_inline_field_in_an_opening_is_followed():
    c = clock("D2 [K:G] G2 B2|[M:2/4] d4|", meter="3/4")
    assert isinstance(next_state(c).policy, Empty) and c.bar_len == Fraction(1, 2) and c.bars == 2


def test_no_short_bar_after_the_pickup():
    assert ok("A", "|")                          # the pickup
    assert not ok("A|BcdB", "|") and not ok("A|BcdB", ":")
    assert ok("A|BcdB AFDF|GFGA B2A", ":")       # completes the pickup at a repeat
    assert ok("A|BcdB AFDF|GFGA B2A", "|")
    assert not ok("A|BcdB AFDF|GFGA B2A|", "\n")  # ... so it must be "||", "|]" or "|:"


def test_note_lengths_that_overfill_are_forbidden():
    assert ok("ABcd efg", "2") and not ok("ABcd efg", "3")
    assert ok("ABcd e", "4") and not ok("ABcd e", "5")
    over = clock("ABcd efga/b")                  # 8.5 eighths: only shortening may follow
    assert isinstance(next_state(over).policy, Full) and next_state(over).policy.over
    assert allows(next_state(over), "/") and not allows(next_state(over), "|") and not allows(next_state(over), "-")


def test_lengths_abc2midi_cannot_read_are_forbidden():
    assert ok("A/", "2") and not ok("A/", "3") and not ok("A//", "/")
    assert ok("A", ",") and not ok("a", ",") and ok("a", "'") and not ok("A,,", ",")
    assert not ok("A |", "0")


def test_tie_leads_to_the_same_pitch():
    assert ok("A2-", "A") and not ok("A2-", "B") and not ok("A2-", "z")
    assert not ok("z2", "-")


def test_broken_rhythm_keeps_equal_lengths():
    assert ok("A2>", "B") and ok("A2>B", "2") and not ok("A2>B", " ") and not ok("A2>B", "4")
    assert not ok("ABcd ef2", ">")               # no room left for the pair


def test_where_a_tune_may_end():
    assert not ok("ABcd", END) and not ok("ABcd efga", END)
    assert ok("ABcd efga|", END) and ok("ABcd efga|]\n", END)
    assert not ok("|:ABcd efga|", END)            # a repeat is still open
    assert not ok("ABcd efga|:", END)


def test_groups_must_close():
    assert not ok("[CE", "|") and ok("[CE", "]") and not ok("[", "]")
    assert not ok("{g", "\n") and not ok("{", "}") and not ok("{g}", "{")
    assert not ok("AB [", "K") and not ok("AB [", "M")     # no key or meter change mid-tune
    assert not ok("AB [K:", "]") and not ok("AB [K:Xyz", "]") and ok("AB [K:G", "]")


@pytest.mark.parametrize("line,group", [
    ("AB [CE", "chord"), ("AB [CEG] d", None), ('A "Am', "quote"), ('A "Am" B', None),
    ("A !tri", "decoration"), ("{g", "grace"), ("[K:G", "field"), ("[K:G] A", None),
    ("[", "bracket"), ("[|A", None), ("[1 A", None),
])
def test_open_group(line, group):
    assert TuneState(meter="none").feed_text(line).group == group


def test_sampler_keeps_bars_full_even_when_the_model_never_counts():
    """A model that loves long notes and writes bar lines at random still gets right bars."""
    vocab = Vocab(sorted(set("\n |:ABcdz23/-]XLMK184D")))

    class Careless(torch.nn.Module):
        def forward(self, x, state=None):
            g = torch.Generator().manual_seed(int(x.sum()))
            logits = torch.randn(x.shape[0], x.shape[1], len(vocab), generator=g)
            logits[..., vocab.index["3"]] += 2.0
            logits[..., vocab.index["|"]] += 1.0
            return logits, state or (torch.zeros(1, 1, 1), torch.zeros(1, 1, 1))
    s = Sampler(Careless().eval(), vocab)
    s.knows_codes = False
    checked = 0
    for t in s.sample(Header.parse("4/4", "1/8", "D"), "", "", Settings(seed=3, max_chars=300, num=4)):
        report = abctools.validate(t.abc)
        assert report.bars_ok == report.bars_checked, (t.abc, [p.message for p in report.problems])
        checked += report.bars_checked
    assert checked >= 20


def form_clock(text, sections=2, bars=(2, 2)):
    return TuneState("4/4", "1/8", sections, list(bars)).feed_text(text)


def test_requested_form_places_section_ends():
    first = form_clock("ABcd efga|")                  # bar 1 of 2: the section goes on
    assert not allows(next_state(first), "|") and not allows(next_state(first), ":") and allows(next_state(first), "A")
    second = form_clock("ABcd efga|ABcd efga")        # bar 2 of 2: it must end here
    assert allows(next_state(second), ":") and allows(next_state(second), "|")
    after = form_clock("ABcd efga|ABcd efga|")
    assert not allows(next_state(after), " ") and allows(next_state(after), "|") and allows(next_state(after), ":")
    assert not allows(next_state(form_clock("ABcd efga|ABcd efga :|")), END)     # one section of two
    done = form_clock("ABcd efga|ABcd efga :|ABcd efga|ABcd efga|]")
    assert allows(next_state(done), END) and not allows(next_state(done), "A") and not allows(next_state(done), "|")
    assert not allows(next_state(form_clock("ABcd efga|ABcd efga :|")), "1")      # no endings


def test_sampler_writes_the_requested_form(tiny_checkpoint):
    """Even a barely trained model writes exactly the sections and bars asked for."""
    from abcgen.abc import form as formtools
    from abcgen.sampling.sample import load_sampler
    s = load_sampler(tiny_checkpoint)
    for code in ("S:2 B:4 E:5 B:4", "S:3 B:2 E:5 B:3 E:5 E:5 B:2"):
        asked = formtools.parse_code(code)
        tunes = s.sample(Header.parse("6/8", "1/8", "G"), "", code, Settings(seed=5, max_chars=1500, num=4))
        for t in tunes:
            assert t.ended, t.body
            got = formtools.matches(asked, formtools.body_form(t.body))
            assert got["sections"] and got["bars"], (code, t.body)


# --- musicians' forms, cadences, double stops, range --------------------------------------------

AABB = dict(meter="6/8", unit="1/8", sections=2, bars=[8, 8], repeats=(True, True), full_bars=True,
            key="D", low="G,", high="e'")
JIG_A = "|:A|dfe dBA|B2A F2A|dfe dBA|B2A d2A|dfe dBA|B2A F2A|dfe dBA|B2A d2:|\n"
JIG_B = "|:e|fdd fdd|gfe gfe|fdd fdd|e3 e2e|fdd fdd|gfe gfe|fed BAF|A2d d2:|\n"


def walk(body, **kw):
    """The clock after `body`, or the first character it forbade."""
    c = TuneState(**kw)
    for i, ch in enumerate(body):
        if not allows(next_state(c), ch):
            return f"{ch!r} forbidden after {body[:i]!r}"
        c = c.feed(ch)
    return c


def test_aabb_with_pickups_is_written_with_repeats_and_eight_full_bars():
    clock = walk(JIG_A + JIG_B, **AABB)
    assert isinstance(clock, TuneState), clock
    assert allows(next_state(clock), END)


def test_a_repeated_part_opens_and_closes_with_repeat_signs():
    assert isinstance(walk("dfe", **AABB), str)                        # "|:" first
    full = "|:A|dfe dBA|B2A F2A|dfe dBA|B2A d2A|dfe dBA|B2A F2A|dfe dBA|B2A d2"
    assert not allows(next_state(walk(full, **AABB)), "|")                  # ":|", not "|"
    assert allows(next_state(walk(full, **AABB)), ":")
    # the part's last bar is shortened by the pickup: d3 would overfill it
    assert not allows(next_state(walk(full[:-1], **AABB)), "3")


def test_a_part_lands_on_the_tonic_chord_on_its_last_strong_beat_and_the_tune_on_the_tonic():
    """The cadence is the note sounding on the closing bar's last strong beat; what follows it is a
    pickup into the repeat and may be any note (`A2ce e2z d:|` lands on E)."""
    bar8 = "|:A|dfe dBA|B2A F2A|dfe dBA|B2A d2A|dfe dBA|B2A F2A|dfe dBA|B2A "
    # the part's last bar is 5/8 long (its pickup is on top); its last strong beat is at 3/8
    clock = walk(bar8, **AABB)
    assert allows(next_state(clock), "F") and allows(next_state(clock), "a") and not allows(next_state(clock), "e")
    assert not allows(next_state(clock), "z") and not allows(next_state(clock), "^")
    assert isinstance(walk(bar8 + "d2", **AABB), TuneState) and isinstance(walk(bar8 + "e2", **AABB), str)
    assert isinstance(walk(bar8 + "de", **AABB), TuneState)       # the pickup after the cadence is free
    # before the beat, a note outside the tonic chord may come, but may not sound on the beat
    early = "|:A|dfe dBA|B2A F2A|dfe dBA|B2A d2A|dfe dBA|B2A F2A|dfe dBA|"
    assert isinstance(walk(early + "B2A d", **AABB), TuneState)
    assert isinstance(walk(early + "B4", **AABB), str) and isinstance(walk(early + "B3", **AABB), TuneState)
    last = walk(JIG_A + "|:e|fdd fdd|gfe gfe|fdd fdd|e3 e2e|fdd fdd|gfe gfe|fed BAF|A2d ", **AABB)
    assert allows(next_state(last), "d") and not allows(next_state(last), "f") and not allows(next_state(last), "A")


def test_the_tune_lands_on_its_strong_beat_not_on_a_pickup():
    key = dict(meter="4/4", unit="1/8", key="D")
    lands_on_e = walk("dfed B2A2|dfed A2d2:|\nA2ce e2z d:|", **key)        # the tune's issue: E, not d
    assert isinstance(lands_on_e, TuneState) and lands_on_e.landed == "E"
    assert not allows(next_state(lands_on_e), END)
    lands_on_d = walk("dfed B2A2|dfed A2d2:|\nA2ce d2z e:|", **key)
    assert lands_on_d.landed == "D" and allows(next_state(lands_on_d), END)


def test_no_bar_three_times_running_nor_over_a_quarter_of_the_tune():
    twice = walk("dfed B2A2|dfed B2A2|dfed B2A", meter="4/4", unit="1/8")
    assert not allows(next_state(twice), "2")                         # a third dfed B2A2
    assert allows(next_state(twice), "/") and allows(next_state(twice), ",")
    once_more = walk("dfed B2A2|dfed B2A2|dfed c2A", meter="4/4", unit="1/8")
    assert allows(next_state(once_more), "2")
    # sixteen bars reckoned: four times is a quarter, a fifth time is over it
    four = "dfed B2A2|gfed c2B2|" * 4 + "dfed B2A"
    assert not allows(next_state(walk(four, meter="4/4", unit="1/8")), "2")
    assert allows(next_state(walk("dfed B2A2|gfed c2B2|" * 3 + "dfed B2A", meter="4/4", unit="1/8")), "2")


def test_a_state_is_never_changed_by_feeding_it():
    before = TuneState("6/8", "1/8", key="D").feed_text("dfe dBA|B2A")
    mask = [allows(next_state(before), c) for c in "ABCdef|:2/ "]
    after = before.feed("2").feed("|")
    assert after.bars == 2 and before.bars == 1 and before.suffix() == ""
    assert [allows(next_state(before), c) for c in "ABCdef|:2/ "] == mask
    assert before.feed_text("2|").bars == after.bars


def test_without_a_form_the_tune_ends_on_the_tonic_after_two_parts():
    key = dict(meter="6/8", unit="1/8", key="D")
    assert not allows(next_state(walk("dfe dBA|B2A d3|", **key)), END)            # one part only
    two = walk("dfe dBA|B2A d3:|\nfdd fdd|gfe d3|", **key)
    assert allows(next_state(two), END) and allows(next_state(two), "]")
    assert not allows(next_state(walk("dfe dBA|B2A d3:|\nfdd fdd|gfe e3|", **key)), END)
    assert not allows(next_state(walk("dfe dBA|B2A d3:|\nfdd fdd|gfe e3|", **key)), "]")


def test_a_final_bar_line_ends_the_tune_and_no_double_bar_inside_a_repeat():
    ended = walk("dfe dBA|B2A d3|]", meter="6/8")
    assert allows(next_state(ended), END) and not allows(next_state(ended), "d") and not allows(next_state(ended), "|")
    inside = walk("|:dfe dBA|B2A F2A|", meter="6/8")
    assert not allows(next_state(inside), "|") and allows(next_state(inside), "d")


def test_chords_are_double_stops_without_repeated_notes():
    assert isinstance(walk("[DF]", meter="6/8"), TuneState)
    assert isinstance(walk("[DFA]", meter="6/8"), str)
    assert isinstance(walk("[DD]", meter="6/8"), str)
    assert isinstance(walk("[cBAB]", meter="6/8"), str)


def test_octave_marks_keep_the_instrument_range():
    fiddle = dict(meter="6/8", unit="1/8", low="G,", high="e'")
    assert isinstance(walk("A,", **fiddle), TuneState) and isinstance(walk("e'", **fiddle), TuneState)
    assert isinstance(walk("F,", **fiddle), str) and isinstance(walk("f'", **fiddle), str)
    assert isinstance(walk("B,,", **fiddle), str)
