"""How much a tune sounds like a tune, as one number for choosing the best of several candidates,
and what keeps a candidate from sounding like its type.

A hand-set score on the musical report (`abcgen.judge.analysis`), each term something a fiddler
listens for and human tunes of the folk corpus show: bars 5-6 bring back bars 1-2 where the
type's phrases usually do (reels, jigs, hornpipes, strathspeys: half or more of them; of all the
corpus's tunes, typed or not, only a third, so an untyped tune is not pushed to answer), the B
part climbs above the A part (77%), each part lands on the tonic (78% of parts), about half the
bars recur (median 47%) without one bar going round in circles, steps rather than leaps (median
2.6 semitones between notes), and the type's own rhythm (a reel is not dotted, a strathspey is:
`abcgen.tune_types`). It is set by hand, not trained, so the benchmarks that judge it
(`benchmarks.musicality`'s two-sample classifier, `benchmarks.type_voice`'s recognizer) are not
what it was fitted to.
"""
from __future__ import annotations

from abcgen.judge.analysis import MusicalReport
from abcgen.judge.reading import pitch_class
from abcgen.tune_types import tune_type

RECURRING = 0.47      # share of bars recurring in the median human tune
LEAPS_FROM = 3.4      # semitones between notes, on average, above which 9 human tunes in 10 stay
RHYTHM_OFF = 0.5      # a share of dotted bars this far from the type's is another type's rhythm
WEIGHTS = {           # what each term is worth; a loop outweighs everything else
    "answers": 1.0, "b_climbs": 0.5, "parts_on_tonic": 1.0, "recurring": 1.0, "leaps": -1.0, "loop": -3.0,
    "rhythm": -2.0,
}


def terms(r: MusicalReport, kind: str = "") -> dict[str, float]:
    """Each term of the score in [0, 1] (leaps: semitones over `LEAPS_FROM`) for a tune of type
    `kind` ("" for none); answers: only for a type whose phrases usually answer; rhythm: how far
    its share of dotted bars is from its type's."""
    tonic = pitch_class(r.tonic) if r.tonic else None
    voice = tune_type(kind)
    landed = [p.cadence_midi % 12 == tonic for p in r.parts
              if p.cadence_midi is not None and tonic is not None]
    return {
        "answers": float(bool(r.answers)) if voice and voice.answers else 0.0,
        "b_climbs": float((r.b_register or 0) > 0),
        "parts_on_tonic": sum(landed) / len(landed) if landed else 0.0,
        "recurring": max(0.0, 1 - abs(r.recurring_share - RECURRING) / RECURRING) if r.notes else 0.0,
        "leaps": max(0.0, (r.mean_interval or 0) - LEAPS_FROM),
        "loop": float(bool(r.loop)),
        "rhythm": abs(r.dotted_share - voice.dotted) if voice and voice.dotted is not None else 0.0,
    }


def score(r: MusicalReport, kind: str = "") -> float:
    """Higher sounds more like a tune (of type `kind`)."""
    return sum(WEIGHTS[k] * v for k, v in terms(r, kind).items())


def misfits(r: MusicalReport, kind: str) -> list[str]:
    """What keeps a tune of type `kind` from sounding like one: its phrase does not come back where
    the type's phrases usually do, or its rhythm is far from the type's (a strathspey written in
    even eighths, a reel dotted throughout). Without a type, nothing: an untyped tune is judged by
    its score alone."""
    t = tune_type(kind)
    if t is None:
        return []
    out = []
    if t.answers and r.answers is False:
        out.append(f"bars 5-6 do not bring back bars 1-2, as a {t.name}'s usually do")
    if t.dotted is not None and abs(r.dotted_share - t.dotted) > RHYTHM_OFF:
        out.append(f"{r.dotted_share:.0%} of its bars are dotted, where a {t.name} dots {t.dotted:.0%}")
    return out
