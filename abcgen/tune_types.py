"""The one table of tune types: meter, unit length, tempo in the type's own beat, typical form,
the range of the instrument the type implies, and the voice a tune of the type has in human hands.
The app's presets, rendering's default tempo and swing, the composer's choice among candidates
(`abcgen.judge.critic`) and the benchmarks all read it, so a slide is the same slide everywhere.

The voice figures come from the folk corpus's tunes that name their type in R: (per tune, the share
of bars holding a dotted pair, and whether bars 5-6 bring back bars 1-2). Most reels (88% of 643),
jigs (81% of 477) and slip jigs (91% of 85) hold no dotted pair at all; 64% of the 465 hornpipes
are written straight and played swung, and those that write the lilt out dot 83% of their bars in
the median tune; strathspeys (48) 89% of those that dot, airs (28) 33%. Bars 5-6 bring back bars
1-2 in 54% of reels, 50% of jigs, 61% of hornpipes and 60% of strathspeys, but in only 13% of slip
jigs and 21% of airs. Where the corpus holds too few tunes of a type (polka, waltz, march,
mazurka, slide), the defaults stand: no dotted figure, phrases answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


# What a fiddle plays comfortably in first and third position, as ABC pitches: the range the
# sampler keeps melodies in.
MELODY_RANGE = ("G,", "e'")


@dataclass(frozen=True)
class TuneType:
    name: str
    meter: str          # M: as musicians write it
    unit: str           # L:
    beat: str           # the note value musicians count the tempo in ("3/8" = dotted quarter)
    bpm: int            # beats per minute, in that beat
    form: str           # typical form, as musicians name it (see abcgen.abc.form.parse_form)
    low: str = MELODY_RANGE[0]    # lowest note the instrument plays comfortably (ABC pitch)
    high: str = MELODY_RANGE[1]   # highest
    swing: float = 0.0  # how the type's straight eighths are played: 0 straight, 1 dotted (abcgen.render.playing)
    dotted: float | None = None  # share of bars with a dotted pair in a human tune of the type (see above)
    answers: bool = True  # bars 5-6 bring back bars 1-2 in about half or more of human tunes of the type

    @property
    def tempo(self) -> str:
        """The Q: value: beat=bpm."""
        return f"{self.beat}={self.bpm}"

    @property
    def quarter_bpm(self) -> float:
        """The same tempo counted in quarter notes, what MIDI and audio need."""
        return float(self.bpm * Fraction(self.beat) / Fraction(1, 4))


TUNE_TYPES: dict[str, TuneType] = {t.name: t for t in (
    TuneType("reel", "4/4", "1/8", "1/2", 100, "AABB", dotted=0.0),
    TuneType("jig", "6/8", "1/8", "3/8", 116, "AABB", swing=0.3, dotted=0.0),
    TuneType("slip jig", "9/8", "1/8", "3/8", 116, "AABBCC", swing=0.3, dotted=0.0, answers=False),
    TuneType("hornpipe", "4/4", "1/8", "1/4", 150, "AABB", swing=0.6, dotted=0.83),
    TuneType("polka", "2/4", "1/8", "1/4", 140, "AABB"),
    TuneType("slide", "12/8", "1/8", "3/8", 130, "AABB", swing=0.3),
    TuneType("waltz", "3/4", "1/8", "1/4", 150, "AABB"),
    TuneType("march", "2/4", "1/8", "1/4", 120, "AABB"),
    TuneType("strathspey", "4/4", "1/8", "1/4", 130, "AABB", swing=0.8, dotted=0.89),
    TuneType("mazurka", "3/4", "1/8", "1/4", 130, "AABB"),
    TuneType("air", "3/4", "1/8", "1/4", 80, "AB", dotted=0.33, answers=False),
)}

# Rhythm names (R: field) that tune books use for one of the types above: a clog is a hornpipe, a
# highland fling is played with a strathspey's dotted pairs and snaps.
ALIASES = {"single jig": "jig", "double jig": "jig", "hop jig": "slip jig", "slipjig": "slip jig",
           "reel (double)": "reel", "clog": "hornpipe", "highland fling": "strathspey",
           "fling": "strathspey"}


def kind_id(name: str) -> int:
    """The id a model hears for a type: its place in the table, from 1; 0 for none. Appending a
    type keeps the ids of the others, so a trained model still reads them."""
    return list(TUNE_TYPES).index(name) + 1 if name in TUNE_TYPES else 0


KINDS = len(TUNE_TYPES) + 1   # type ids a model conditioned on the type knows (kind_id)


def tune_type(name: str | None) -> TuneType | None:
    """The type a name or R: field means ("Slip Jig", "double jig"), or None."""
    if not name:
        return None
    key = " ".join(str(name).lower().split())
    key = ALIASES.get(key, key)
    if key in TUNE_TYPES:
        return TUNE_TYPES[key]
    for candidate in sorted(TUNE_TYPES, key=len, reverse=True):  # "slip jig" before "jig"
        if candidate in key:
            return TUNE_TYPES[candidate]
    return None
