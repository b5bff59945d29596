"""How a tune is built, as the musical report judges it: cadences on the beat (not a pickup into
the repeat), bars that loop, phrases that answer, the B part's register and dotted pairs."""
from fractions import Fraction

import pytest

from abcgen.judge import phrases
from abcgen.judge.analysis import analyse

HEAD = "X:1\nT:Test\nM:{meter}\nL:1/8\nK:{key}\n"
A1, A2, A3, A4 = "ABcd efga", "gfed cBAG", "FGAB cdef", "d2f2 a4"
B1, B2, B3, B4 = "a2ag f2fe", "d2dc B2BA", "GABc defg", "a8"


def report(body: str, key: str = "D", meter: str = "4/4"):
    return analyse(HEAD.format(key=key, meter=meter) + body + "\n", originality=False)


def test_a_pickup_into_the_repeat_is_not_the_cadence():
    r = report(f"d |: {A1} | {A2} | {A3} | A2ce e2z d :|")
    assert r.last_note == "d" and r.cadence_note == "e"
    assert r.ends_on_tonic is False
    assert "lands on e, not the tonic D (its last note, d, leads on)" in r.text()
    assert r.parts[-1].cadence == "e"


def test_the_cadence_is_the_note_on_the_last_beat_that_sounds():
    assert report(f"{A1} | {A2} | {A3} | E2AG FD D2 |]").cadence_note == "D"   # on beat 4
    assert report(f"{A1} | {A2} | {A3} | d6 z2 |]").cadence_note == "d"        # held over a rest
    jig = report("dBA dBA | FED D3 |]", meter="6/8")
    assert jig.cadence_note == "D" and jig.ends_on_tonic                    # beats of 3/8
    assert report("dBA dBA | d3 e2 A |]", meter="6/8").cadence_note == "e"
    r = report(f"|: {A1} | d8 :|\n|: {B1} | A8 :|")
    assert [p.cadence for p in r.parts] == ["d", "A"] and r.cadence_note == "A"


@pytest.mark.parametrize("meter, length, want", [
    ("4/4", Fraction(1), [0, Fraction(1, 4), Fraction(1, 2), Fraction(3, 4)]),
    ("C|", Fraction(1), [0, Fraction(1, 4), Fraction(1, 2), Fraction(3, 4)]),
    ("6/8", Fraction(3, 4), [0, Fraction(3, 8)]),
    ("9/8", Fraction(9, 8), [0, Fraction(3, 8), Fraction(3, 4)]),
    ("3/4", Fraction(3, 4), [0, Fraction(1, 4), Fraction(1, 2)]),
    ("none", None, [0]),
])
def test_beats_of_each_meter(meter, length, want):
    assert list(phrases.beats(meter, length)) == want     # abcgen.abc.policy.beats, the writer's too


def test_one_bar_played_over_and_over_is_a_loop():
    r = report("|" + "|".join(["A2A2d2"] * 16) + "|]", meter="3/4")
    assert (r.loops.run, r.loops.run_at, r.loops.distinct, r.loops.top_share) == (16, 1, 1, 1.0)
    assert r.loop == "bar 1 is played 16 times running"
    assert "loops: bar 1 is played 16 times running" in r.text()


def test_one_bar_over_a_quarter_of_the_tune_or_few_bars_is_a_loop():
    spread = report(f"{A1} | {A2} | {A1} | {A3} | {A1} | {A4} | {B1} | {B2} |]")
    assert spread.loops.run == 1 and spread.loops.top_share == pytest.approx(3 / 8)
    assert spread.loop == "bar 1 makes up 38% of the tune"
    few = report(f"{A1} | {A2} | {A3} | {A4} | {A1} | {A2} | {A3} | {A4} |]")
    assert few.loops.top_share == 0.25 and few.loop == "it has only 4 different bars in 8"
    good = report(f"|: {A1} | {A2} | {A3} | {A4} :|\n|: {B1} | {B2} | {B3} | {B4} :|")
    assert good.loop == "" and good.loops.distinct == 8 and "no bar loops" in good.text()


def test_bars_five_and_six_answer_bars_one_and_two():
    answered = report(f"{A1} | {A2} | {A3} | {A4} | {A1} | {A2} | {B3} | {B4} |]")
    assert answered.answers is True and "bars 5-6 bring back bars 1-2" in answered.text()
    pickup = report(f"A | {A1} | {A2} | {A3} | {A4} | {A1} | {A2} | {B3} | {B4} |]")
    assert pickup.answers is True                           # counted from bar 1, not the pickup
    half = report(f"{A1} | {A2} | {A3} | {A4} | {A1} | {B2} | {B3} | {B4} |]")
    assert half.answers is False and "do not bring back" in half.text()
    assert report(f"{A1} | {A2} | {A3} | {A4} |]").answers is None


def test_b_part_register_against_the_a_part():
    r = report("|: D2F2 A4 | F2A2 d4 :|\n|: a2f2 d'4 | f2a2 d'4 :|")
    assert r.b_register > 10 and "B part sits" in r.text() and "above the A part" in r.text()
    low = report("|: a2f2 d'4 | f2a2 d'4 :|\n|: D2F2 A4 | F2A2 d4 :|")
    assert low.b_register < -10 and "below the A part" in low.text()
    assert report(f"{A1} | {A2} |]").b_register is None


def test_dotted_pairs_are_counted_per_bar():
    r = report("A>Bc>d e2f2 | d8 | f<ag>f e4 | d8 |]")
    assert r.dotted_share == 0.5
    assert report(f"{A1} | {A2} |]").dotted_share == 0


def test_the_critic_prefers_answered_phrases_and_tonic_landings_to_loops():
    from abcgen.judge import critic
    answered = report(f"|: {A1} | {A2} | {A3} | {A4} | {A1} | {A2} | {B3} | d8 :|\n"
                      f"|: {B1} | {B2} | {B1} | {B3} | {B1} | {B2} | {A3} | d8 :|")
    rambling = report(f"|: {A1} | {A2} | {A3} | {A4} | {B1} | {B2} | {B3} | e8 :|\n"
                      f"|: {B3} | {B2} | {A2} | {A1} | {A4} | {A3} | {B1} | e8 :|")
    looping = report("|" + "|".join(["A2A2d2"] * 16) + "|]", meter="3/4")
    assert answered.answers and not rambling.answers and looping.loop
    terms = critic.terms(answered, "reel")
    assert terms["answers"] == 1 and terms["parts_on_tonic"] == 1 and terms["loop"] == 0
    assert critic.terms(answered, "")["answers"] == critic.terms(answered, "slip jig")["answers"] == 0
    assert critic.score(answered, "reel") > critic.score(rambling, "reel") > critic.score(looping, "reel")
    assert critic.score(rambling) > critic.score(looping)
def test_the_critic_hears_each_types_phrase_and_rhythm():
    """A strathspey in even eighths or a reel dotted throughout is another type's rhythm; a reel
    whose bars 5-6 do not come back is not a reel's phrase, but a slip jig's may be; an untyped tune
    is held to no type."""
    from abcgen.judge import critic
    straight = f"|: {A1} | {A2} | {A3} | {A4} | {A1} | {A2} | {B3} | d8 :|"
    dotted = "|: " + " | ".join(["A>Bc>d e>fg>a"] * 2 + ["d>ef>g a>ga>f", "d8"] * 3) + " :|"
    rambling = f"|: {A1} | {A2} | {A3} | {A4} | {B1} | {B2} | {B3} | e8 :|"
    assert critic.misfits(report(straight), "reel") == []
    assert any("dotted" in m for m in critic.misfits(report(straight), "strathspey"))
    assert not any("dotted" in m for m in critic.misfits(report(dotted), "strathspey"))
    assert any("dotted" in m for m in critic.misfits(report(dotted), "reel"))
    assert any("bars 5-6" in m for m in critic.misfits(report(rambling), "reel"))
    assert critic.misfits(report(rambling, meter="9/8"), "slip jig") == []
    assert critic.misfits(report(dotted), "") == []
    rhythm = {(tune, kind): critic.terms(report(body), kind)["rhythm"]
              for tune, body in (("straight", straight), ("dotted", dotted)) for kind in ("reel", "strathspey")}
    assert rhythm["dotted", "strathspey"] < rhythm["straight", "strathspey"]
    assert rhythm["straight", "reel"] == 0 < rhythm["dotted", "reel"]


