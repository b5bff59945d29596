"""How a tune is played: instrument, lilt (swing), key, the bars looped, speed and a count-in bar.

These are the player's choices, never the tune's: the written ABC keeps its Q: and rhythm. Only
transposition rewrites the ABC (abcmidi's abc2abc), so that the sheet music, the sound and the files
all show the key it is played in. `Playing.checked` refuses a bad value naming its field, before
any work is done.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from fractions import Fraction

from abcgen.abc.header import split_tune
from abcgen.abc.transpose import pitch_class, transpose
from abcgen.errors import DataError, FieldError, RenderError
from abcgen.render.instruments import instrument
from abcgen.tune_types import TUNE_TYPES, tune_type

MIN_SPEED, MAX_SPEED = 0.5, 1.0
LOOP_TIMES = 4     # a looped part or range of bars plays this many times over
MAX_BAR = 9999
TRANSPOSE_SECONDS = 10.0
_KEY = re.compile(r"([A-Ga-g])([#b]?)\s*(m|min|minor|maj|major|ion|dor|phr|lyd|mix|aeo|loc)?", re.IGNORECASE)
_LOOP = re.compile(r"(?:bars?\s*)?(\d{1,4})\s*(?:-|to|–)\s*(\d{1,4})", re.IGNORECASE)


@dataclass(frozen=True)
class Playing:
    """The player's choices; `swing` None means the tune type's own (tune_types' swing)."""

    instrument: str = "fiddle"
    swing: float | None = None
    transpose: str = ""   # a key such as G, Bb or Ador; "" keeps the written key
    loop: str = ""        # "A", "B", ... a part; "N-M" bars N to M; "" the whole tune
    speed: float = 1.0    # of the tune's tempo
    count_in: bool = False

    def checked(self) -> "Playing":
        """The same choices, tidied; FieldError naming the field of the first bad one."""
        swing = None if self.swing in (None, "") else _number("swing", self.swing, 0.0, 1.0)
        speed = 1.0 if self.speed in (None, "") else _number("speed", self.speed, MIN_SPEED, MAX_SPEED)
        return replace(self, instrument=instrument(self.instrument).name, swing=swing, speed=speed,
                       transpose=_key_name(self.transpose), loop=_loop_name(self.loop),
                       count_in=bool(self.count_in))


def _number(field: str, value, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not low <= number <= high:  # also false for NaN
        raise FieldError(field, f"must be a number from {low:g} to {high:g}, not {str(value)[:20]!r}")
    return number


def _key_name(key) -> str:
    text = str(key or "").strip()
    if not text:
        return ""
    m = _KEY.fullmatch(text)
    if not m:
        raise FieldError("transpose", f"{text[:20]!r} is not a key: write it as in K:, e.g. G, Bb, F#m or Ador")
    tonic, accidental, mode = m.groups()
    return tonic.upper() + accidental + (mode or "")


def _loop_name(loop) -> str:
    text = str(loop or "").strip()
    if not text or text.lower() in ("none", "whole tune"):
        return ""
    if re.fullmatch(r"(?:part\s*)?[A-Ha-h]", text, re.IGNORECASE):
        return text[-1].upper()
    m = _LOOP.fullmatch(text)
    if not m or not 0 <= int(m.group(1)) <= int(m.group(2)) <= MAX_BAR:
        raise FieldError("loop", f"{text[:20]!r} is neither a part (A, B, ...) nor bars such as 5-8")
    return f"{int(m.group(1))}-{int(m.group(2))}"


def tune_swing(abc: str, meter: str, playing: Playing) -> float:
    """The swing asked for, else the tune type's (R:, else the first type of the meter)."""
    if playing.swing is not None:
        return playing.swing
    rhythm = next((value for letter, value in split_tune(abc)[0] if letter == "R"), None)
    kind = tune_type(rhythm) or next((t for t in TUNE_TYPES.values() if t.meter == meter), None)
    return kind.swing if kind else 0.0


# --------------------------------------------------------------------------- lilt


def beat_of(numerator: int, denominator: int) -> Fraction:
    """The beat swing works in, in quarter notes: a dotted quarter in 6/8, 9/8 and 12/8, else a quarter."""
    return Fraction(3, 2) if denominator == 8 and numerator % 3 == 0 and numerator > 3 else Fraction(1)


def swung(position: Fraction, beat: Fraction, swing: float) -> Fraction:
    """Where a note written at `position` (quarter notes into its bar) is played.

    Straight-written eighths move, nothing else: in a quarter-note beat the off-beat eighth starts
    at 50% of the beat plus swing x 25% (1 is a dotted eighth and sixteenth); in a jig's beat of
    three eighths the second and third come later by swing x 1/9 and x 1/18 of the beat, a lilt.
    """
    if not swing:
        return position
    within = position % beat
    if beat == 1:
        return position + Fraction(swing).limit_denominator(1000) / 4 if within == Fraction(1, 2) else position
    shift = {Fraction(1, 2): beat / 9, Fraction(1): beat / 18}.get(within, 0)
    return position + shift * Fraction(swing).limit_denominator(1000)


# --------------------------------------------------------------------------- loops


def _sections(measures, endings: set[int]) -> list[list]:
    """The written bars in parts: a part ends at a repeat sign, a double or a final bar line that
    no second ending (a bar whose id is in `endings`) follows."""
    from music21 import bar

    out, current = [], []
    for i, m in enumerate(measures):
        current.append(m)
        right = m.rightBarline
        ending_next = i + 1 < len(measures) and id(measures[i + 1]) in endings
        if ending_next:
            continue
        if isinstance(right, bar.Repeat) or (right is not None and right.type in ("double", "final", "light-heavy")):
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def loop_measures(measures, loop: str, endings: set[int]) -> list:
    """The written bars a loop plays once: part A, B, ... (without its second endings, given by id
    in `endings`) or bars N to M as numbered on the sheet. RenderError when the tune has none."""
    if loop.isalpha():
        sections = _sections(measures, endings)
        index = ord(loop) - ord("A")
        if index >= len(sections):
            names = " and ".join(chr(ord("A") + i) for i in range(len(sections)))
            raise RenderError(f"Loop: the tune has no part {loop}; its parts are {names}.")
        return [m for m in sections[index] if id(m) not in endings]
    first, last = map(int, loop.split("-"))
    chosen = [m for m in measures if first <= m.number <= last]
    if not chosen:
        numbers = [m.number for m in measures]
        raise RenderError(f"Loop: the tune has no bars {first} to {last}; its bars are numbered "
                          f"{min(numbers)} to {max(numbers)}.")
    return chosen


# --------------------------------------------------------------------------- transposition


def key_shift(abc: str, key: str) -> int:
    """Semitones from the tune's key to `key` (its tonic; the mode stays the tune's), the nearer
    way (-6 to 5); RenderError when the tune names no key or `key` is of another mode."""
    written = next((value for letter, value in split_tune(abc)[0] if letter == "K"), "")
    m = _KEY.match(written.strip())
    if not m:
        raise RenderError("Transpose: the tune's K: field names no key to transpose from.")
    target = _KEY.fullmatch(key)
    if target.group(3) and _mode(target.group(3)) != _mode(m.group(3)):
        raise RenderError(f"Transpose: the tune is in {written.strip()}, so it can go to another key of "
                          f"that mode, not to {key}.")
    return (pitch_class(target.group(1).upper() + target.group(2))
            - pitch_class(m.group(1).upper() + m.group(2)) + 6) % 12 - 6


def best_shift(shift: int, pitches: list[int], low: int, high: int) -> int:
    """`shift` or the same key an octave the other way, whichever leaves fewer of the written
    `pitches` outside low..high (the nearer on a tie): a whistle player wants A up, not down."""
    other = shift - 12 if shift > 0 else shift + 12
    return min((shift, other), key=lambda s: (sum(not low <= p + s <= high for p in pitches), abs(s)))


def transposed(abc: str, shift: int, key: str) -> str:
    """The tune moved `shift` semitones, into `key`, by abc2abc; RenderError when that cannot be done."""
    if shift == 0:
        return abc
    if not shutil.which("abc2abc"):
        raise RenderError("Transpose: this server cannot transpose tunes (abcmidi is not installed).")
    text = abc if abc.lstrip().startswith("X:") else "X:1\n" + abc
    try:
        out = transpose([text.lstrip()], [shift], timeout=TRANSPOSE_SECONDS)[0]
    except (DataError, subprocess.TimeoutExpired, OSError):
        out = None
    if not out:
        raise RenderError(f"Transpose: the tune could not be rewritten in {key}; check its ABC for errors.")
    return re.sub(r"(?m)^(K:\s*[A-G][#b]?)maj\b", r"\1", out, count=1)


def _mode(mode: str | None) -> str:
    mode = (mode or "").lower()[:3]
    return {"": "maj", "ion": "maj", "m": "min", "aeo": "min"}.get(mode, mode)
