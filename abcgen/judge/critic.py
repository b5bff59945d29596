"""How much a tune sounds like a tune, as one number for choosing the best of several candidates.

A hand-set score on the musical report (`abcgen.judge.analysis`), each term something a fiddler
listens for and human tunes of the folk corpus show: bars 5-6 bring back bars 1-2 (38% of them),
the B part climbs above the A part (77%), each part lands on the tonic (78% of parts), about half
the bars recur (median 47%) without one bar going round in circles, and steps rather than leaps
(median 2.6 semitones between notes). It is set by hand, not trained, so the benchmarks that judge
it (`benchmarks.musicality`'s two-sample classifier, `benchmarks.type_voice`) are not what it
was fitted to.
"""
from __future__ import annotations

from abcgen.judge.analysis import MusicalReport
from abcgen.judge.reading import pitch_class

RECURRING = 0.47      # share of bars recurring in the median human tune
LEAPS_FROM = 3.4      # semitones between notes, on average, above which 9 human tunes in 10 stay
WEIGHTS = {           # what each term is worth; a loop outweighs everything else
    "answers": 1.0, "b_climbs": 0.5, "parts_on_tonic": 1.0, "recurring": 1.0, "leaps": -1.0, "loop": -3.0,
}


def terms(r: MusicalReport) -> dict[str, float]:
    """Each term of the score in [0, 1] (leaps: semitones over `LEAPS_FROM`)."""
    tonic = pitch_class(r.tonic) if r.tonic else None
    landed = [p.cadence_midi % 12 == tonic for p in r.parts
              if p.cadence_midi is not None and tonic is not None]
    return {
        "answers": float(bool(r.answers)),
        "b_climbs": float((r.b_register or 0) > 0),
        "parts_on_tonic": sum(landed) / len(landed) if landed else 0.0,
        "recurring": max(0.0, 1 - abs(r.recurring_share - RECURRING) / RECURRING) if r.notes else 0.0,
        "leaps": max(0.0, (r.mean_interval or 0) - LEAPS_FROM),
        "loop": float(bool(r.loop)),
    }


def score(r: MusicalReport) -> float:
    """Higher sounds more like a tune."""
    return sum(WEIGHTS[k] * v for k, v in terms(r).items())
