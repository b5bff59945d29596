"""The writer's policy: small named checks on a tune state (`abcgen.abc.tune.TuneState`) that ask
more of a tune than ABC does. The grammar (`abcgen.abc.accepts`) asks them where they apply; each
says why it exists.

- form: a requested form (sections, bars per section, repeats) is written as asked, so the page
  and the model agree on what "AABB, 8 bars a part" means;
- cadence: with a key, each part lands on a note of the tonic chord and the tune on the tonic,
  judged as musicians hear it: the note sounding on the closing bar's last beat that has one, not
  a pickup into the repeat (`A2ce e2z d:|` lands on E);
- range: melodies stay in the instrument's range (a fiddle's by default);
- playable chords: a double stop at most;
- no loops: one bar is not written three times running, nor makes up more than a quarter of the
  tune (a tune that goes round in circles is no tune).
"""
from __future__ import annotations

from bisect import bisect_left
from fractions import Fraction
from functools import lru_cache

from abcgen.abc.header import meter_length

STEPS = "CDEFGAB"
MAX_CHORD_NOTES = 2      # a fiddler's double stop: more is unplayable on one instrument
MAX_GROUP_NOTES = 4      # grace notes: a cut, a roll; longer runs are a melody written small
LOOP_RUN = 3             # one bar this many times running is a loop (human tunes: 0.9% of tunes)
LOOP_SHARE = 0.25        # ... and so is one bar over this share of the tune (human tunes: 1.5%)
TUNE_BARS = 16           # bars a tune without a requested form is reckoned to have, for LOOP_SHARE


@lru_cache(maxsize=256)
def pitch_index(note: str) -> int:
    """Diatonic steps from C0 of an ABC pitch ("G," -> 25, "c" -> 35, "e'" -> 44)."""
    letter = note[0]
    octave = (4 if letter.isupper() else 5) - note.count(",") + note.count("'")
    return octave * 7 + STEPS.index(letter.upper())


def tonic_letters(key: str | None) -> tuple[str, frozenset] | None:
    """(the mode's final, the letters of its tonic triad) for a canonical K: value, or None
    (no key, a Highland pipes or free key)."""
    if not key or key[0] not in STEPS:
        return None
    i = STEPS.index(key[0])
    return key[0], frozenset(STEPS[(i + k) % 7] for k in (0, 2, 4))


# ----------------------------------------------------------------------------------------
# form

def form_needs(t, ahead: int = 0) -> str | None:
    """What the bar line closing the current bar (or the bar `ahead` bars later) must be under the
    requested form: a "delimiter" (the section has its bars), "plain" (it has not), or None."""
    if not t.asked.form:
        return None
    k = t.section.done
    bars = t.asked.bars[k] if k < len(t.asked.bars) else None
    if bars is None:
        return None
    bars += t.asked.full_bars and t.section.opened_short     # a pickup is on top of the full bars
    return "delimiter" if t.section.lines + 1 + ahead >= bars else "plain"


def last_bar_of_part(t) -> bool:
    return form_needs(t) == "delimiter"


def next_bar_ends_part(t) -> bool:
    """Under a form, whether the bar after this one is its part's last."""
    return form_needs(t, ahead=1) == "delimiter"


def part_repeats(t) -> bool:
    """Whether the current section of the requested form is written |: ... :|."""
    k = t.section.done
    return k < len(t.asked.repeats) and t.asked.repeats[k]


def bar_length_now(t) -> Fraction | None:
    """The current bar's length; a musician's part that opened with a pickup ends with a bar that
    much shorter."""
    if t.bar_len is not None and t.asked.full_bars and t.section.opened_short and last_bar_of_part(t):
        return t.bar_len - t.part_pickup
    return t.bar_len


def form_done_after_delimiter(t) -> bool:
    """Whether the delimiter being written ends the last requested section."""
    return t.asked.sections is None or t.section.done + 1 >= t.asked.sections


def form_done(t) -> bool:
    return t.asked.sections is not None and t.section.done >= t.asked.sections


# ----------------------------------------------------------------------------------------
# cadence

@lru_cache(maxsize=256)
def beats(meter: str, bar_length: Fraction | None) -> tuple[Fraction, ...]:
    """Where a bar's beats fall, from its start: each dotted quarter of 6/8, 9/8 and 12/8, each
    quarter of 2/2 and x/4, each eighth of 3/8; only the downbeat in free or odd meters. (The
    musical report, `abcgen.judge.phrases`, reads cadences on the same beats.)"""
    if bar_length is None:
        return (Fraction(0),)
    top, _, bottom = {"C": "4/4", "C|": "2/2"}.get(meter, meter).partition("/")
    if not (top.isdigit() and bottom.isdigit()) or int(bottom) == 0:
        return (Fraction(0),)
    top, bottom = int(top), int(bottom)
    step = Fraction(3, bottom) if bottom >= 8 and top % 3 == 0 and top > 3 else Fraction(1, max(4, bottom))
    return tuple(step * k for k in range(int(bar_length / step))) or (Fraction(0),)


@lru_cache(maxsize=256)
def bar_beats(meter: str, length: Fraction | None) -> tuple[Fraction, ...]:
    """The beats of a bar `length` long (a short closing bar has fewer than its meter's)."""
    if length is None:
        return ()
    return tuple(b for b in beats(meter, meter_length(meter)) if b < length)


def cadence_beat(meter: str, length: Fraction | None) -> Fraction | None:
    """The last beat of a bar `length` long, where its cadence is heard: the note sounding there is
    the one the bar lands on."""
    found = bar_beats(meter, length)
    return found[-1] if found else (None if length is None else Fraction(0))


def landing(meter: str, length: Fraction | None, onsets: tuple, end: Fraction, last: str | None) -> str | None:
    """The note a bar lands on: the pitched note sounding on its last beat that has one (`onsets`:
    each note's onset, letter and whether it is pitched; `end`: where the bar ended); without
    beats, its last note `last`."""
    found = bar_beats(meter, length)
    for beat in reversed(found):
        for i, (onset, letter, pitched) in enumerate(onsets):
            until = onsets[i + 1][0] if i + 1 < len(onsets) else end
            if pitched and onset <= beat < until:
                return letter
    return last


def cadence_letters(t) -> frozenset | None:
    """The notes the current bar may land on, when it ends a part under a requested form: the
    tonic chord's, and the tonic alone in the last part."""
    if t.asked.cadence is None or not t.asked.form or not last_bar_of_part(t):
        return None
    last = t.asked.sections is not None and t.section.done + 1 >= t.asked.sections
    return frozenset(t.asked.cadence[0]) if last else t.asked.cadence[1]


def final_ok(t) -> bool:
    """The tune may end here as far as its cadence and parts go: its last bar lands on the tonic,
    and without a requested form at least two parts are written."""
    if t.asked.cadence is None:
        return True
    parts = t.section.done + (1 if t.section.has_notes else 0)
    return t.landed == t.asked.cadence[0] and (t.asked.form or parts >= 2)


# ----------------------------------------------------------------------------------------
# range

def in_range(t, marks: int) -> bool:
    """Whether the note being written, with `marks` octave marks, stays in the range."""
    letter, step = t.letter, 7 * marks
    if letter.isupper():
        return t.asked.low is None or pitch_index(letter) - step >= t.asked.low
    return t.asked.high is None or pitch_index(letter) + step <= t.asked.high


# ----------------------------------------------------------------------------------------
# loops

def looping_bars(t) -> frozenset:
    """The bars (as `TuneState.bar_text` writes them) the writer may not write next: the bar of
    the last two when they were the same, and any bar that already makes up its share."""
    total = max(sum(b or 0 for b in t.asked.bars) if t.asked.form else TUNE_BARS, t.bars + 1)
    most = int(LOOP_SHARE * total)
    out = {text for text, n in t.bar_counts.items() if n + 1 > most}
    if len(t.recent) == LOOP_RUN - 1 and len(set(t.recent)) == 1:
        out.add(t.recent[0])
    return frozenset(out)


def loop_chars(t) -> frozenset:
    """The characters that would complete a looping bar (`looping_bars`): the writer writes
    something else there."""
    if not t.looping:
        return frozenset()
    text = t.bar_text.lstrip(":|]0123456789")
    n = len(text) + 1
    return frozenset(bar[-1] for bar in t.looping if len(bar) == n and bar.startswith(text))
