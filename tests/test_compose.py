import pytest

from abcgen import compose as composer
from abcgen.abc.check import abc2midi_errors
from abcgen.sampling.asked import Header, Settings
from abcgen.sampling.sample import Finished, Progress

REEL = Header.parse(meter="4/4", unit="1/8", key="G", title="Test Reel", x=3)


def test_compose_ranks_and_is_deterministic(sampler):
    s = Settings(temperature=1.0, seed=4, max_chars=200, num=4)
    a = composer.compose(sampler, REEL, "", "", s, retries=1)
    b = composer.compose(sampler, REEL, "", "", s, retries=1)
    assert [t.abc for t in a] == [t.abc for t in b]
    keys = [composer.rank_key(t) for t in a]
    assert keys == sorted(keys)
    for t in a:
        assert t.abc.startswith("X:3\nT:Test Reel\n")
        assert t.to_dict()["valid"] == t.report.valid


def test_requested_and_achieved_form_are_reported(sampler):
    tunes = composer.compose(sampler, REEL, "", "S:2 B:8", Settings(seed=2, max_chars=200, num=2), retries=0)
    for t in tunes:
        assert t.requested_form == "S:2\nB:8\n"
        assert t.achieved_form.startswith("S:")


def test_compose_stream_shows_the_bodies_asked_for_then_the_ranked_tunes(sampler):
    """The page shows the first body while the model writes: progress carries `num` bodies, though
    spare candidates ride along in the batch."""
    s = Settings(seed=4, max_chars=200, num=2)
    *progress, composed = composer.compose_stream(sampler, REEL, "", "", s, retries=1)
    assert progress and all(isinstance(e, Progress) and len(e.bodies) == 2 for e in progress)
    assert isinstance(composed, composer.Composed)
    assert [t.abc for t in composed.tunes] == [t.abc for t in composer.compose(sampler, REEL, "", "", s, retries=1)]


def test_abc2midi_problems_become_report_errors():
    bad = "X:1\nM:4/4\nL:1/8\nK:G\nD2d2- f2f2 | e2de d4 |]\n"
    if abc2midi_errors(bad) is None:
        pytest.skip("abc2midi (Debian package abcmidi) is not installed; CI installs it")
    problems = composer.abc2midi_problems(bad)
    assert problems and problems[0].level == "error" and problems[0].line == 5
    assert "tied" in problems[0].message
    assert composer.abc2midi_problems("X:1\nM:4/4\nL:1/8\nK:G\nGABc dedB | c2A2 B4 |]\n") == []


def test_batch_stops_once_enough_tunes_are_accepted():
    """Stopping early keeps only finished tunes, the same ones a full run writes (the shipped
    model: it ends its tunes, the tiny one rarely does)."""
    from abcgen.sampling.sample import load_sampler
    sampler = load_sampler()
    settings = Settings(temperature=1.0, seed=2, max_chars=400, num=6)
    seen = []
    *progress, finished = sampler.stream(REEL, "", "", settings, accept=lambda c: seen.append(c) or True,
                                         enough=1, grace=0)
    assert all(isinstance(e, Progress) for e in progress) and isinstance(finished, Finished)
    early = finished.candidates
    full = sampler.sample(REEL, "", "", settings)
    assert seen and all(c.ended for c in early)
    assert {c.body for c in early} == {c.body for c in seen}
    assert {c.body for c in early} <= {c.body for c in full}
    assert len(early) < len(full)            # it did stop before every row had finished
    # With grace, the rows that end soon after the first are ranked with it; a rambling one is not.
    graced = sampler.stream(REEL, "", "", settings, accept=lambda c: True, enough=1, grace=0.5)
    graced = [e for e in graced if isinstance(e, Finished)][0].candidates
    first = min(len(c.body) for c in early)
    assert {c.body for c in early} <= {c.body for c in graced} <= {c.body for c in full}
    assert all(c.ended and len(c.body) <= 1.5 * first + 2 for c in graced)
    assert len(graced) > len(early) and all(c.body in {g.body for g in graced}
                                            for c in full if c.ended and len(c.body) < first + 0.4 * first)


def test_the_tune_handed_back_is_the_best_of_the_first_batch():
    """Compose writes its first batch (the tune and its spare candidates) until the rows the grace
    leaves in are finished, and hands back the one `rank_key` puts first, not the first to finish:
    that one would be the shortest, and so the least dotted (the shipped model; a strathspey,
    whose dotted pairs take characters)."""
    from abcgen.sampling.sample import load_sampler
    from benchmarks.type_voice import type_request
    sampler = load_sampler()
    header, form = type_request("strathspey", "A")
    settings = Settings(seed=4)
    best = composer.compose(sampler, header, "", form, settings)[0]
    events = sampler.stream(header, "", form, Settings(seed=4, num=1 + composer.SPARE), enough=1,
                            accept=lambda c: composer.acceptable(composer.check(c, "AABB"), "AABB"))
    batch = [composer.check(c, "AABB") for c in [e for e in events if isinstance(e, Finished)][0].candidates]
    assert len(batch) >= 2
    assert best.abc == min(batch, key=composer.rank_key).abc


def test_aabb_is_written_to_play_aabb_with_eight_full_bars_and_a_tonic_ending(sampler):
    """Even the tiny model, under the tune state's masks: repeat signs that play AABB, 8 full bars a
    part, the last bar landing on the tonic of K: on its last strong beat, double stops at most."""
    jig = Header.parse(meter="6/8", unit="1/8", key="Ador")
    tunes = composer.compose(sampler, jig, "", "AABB", Settings(seed=3, max_chars=1500, num=3), retries=0)
    for t in tunes:
        m = t.music
        assert m.plays_as == "AABB", t.abc
        assert [p.bars for p in m.parts] == [8, 8], t.abc
        assert m.ends_on_tonic and m.cadence_note[0].upper() == "A", t.abc   # a pickup may follow it
        assert m.max_chord_notes <= 2 and not m.repeated_note_chords
        assert t.abc.count("|]") <= 1


def test_tonic_endings_rank_first(sampler):
    tunes = composer.compose(sampler, REEL, "", "", Settings(seed=6, max_chars=300, num=4), retries=0)
    flags = [(not t.valid, not t.music.ends_on_tonic) for t in tunes]
    assert flags == sorted(flags)


def test_deadline_bounds_the_whole_compose(sampler):
    """A deadline already past: each row writes one step, is closed there, and no retry starts;
    the tunes still come back closed. (Measured by what was written, not by a clock.)"""
    import time
    late = composer.compose(sampler, REEL, "", "", Settings(seed=1, max_chars=3000, num=2),
                            retries=2, deadline=time.monotonic() - 1)
    assert len(late) == 2
    for t in late:
        assert not t.candidate.ended and t.candidate.closing, t.abc
        assert len(t.candidate.body.replace(" |]", "").strip()) <= 1, t.candidate.body
    free = composer.compose(sampler, REEL, "", "", Settings(seed=1, max_chars=3000, num=1), retries=0)
    assert len(free[0].candidate.body) > 20          # the control: without the deadline it writes on


def test_a_tune_looping_one_bar_ranks_last_and_is_not_called_valid():
    from abcgen.sampling.sample import Candidate
    from abcgen.web import present
    waltz = Header.parse(meter="3/4", unit="1/8", key="D")
    looping = composer.check(Candidate(waltz, "", "|" + "|".join(["A2A2d2"] * 16) + "|]\n", True))
    answering = composer.check(Candidate(waltz, "", (
        "|: d2f2a2 | g2f2e2 | d2f2a2 | b4a2 | d2f2a2 | g2f2e2 | f2e2d2 | d6 :|\n"
        "|: a2b2c'2 | d'4a2 | b2a2g2 | f4e2 | a2b2c'2 | d'4a2 | g2f2e2 | d6 :|\n"), True))
    assert looping.valid and answering.valid
    assert looping.loop == "bar 1 is played 16 times running" and answering.loop == ""
    assert answering.music.answers and answering.music.ends_on_tonic
    assert sorted([looping, answering], key=composer.rank_key) == [answering, looping]
    said = present.tune_message(looping.report, loop=looping.loop)
    assert "Valid" not in said and "bar 1 is played 16 times running" in said
    assert "Valid tune" in present.tune_message(answering.report, loop=answering.loop)
    reported = present.report_text(looping.report, musical=looping.music)
    assert not reported.startswith("Valid") and "goes round in circles: bar 1 is played" in reported
    assert looping.to_dict()["loop"] == looping.loop
