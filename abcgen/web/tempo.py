"""Tempo the way musicians count it: in the tune's beat (a jig in dotted quarters, a reel in halves),
and the one place the tempo of a shown tune lives, its Q: field.

Changing the tempo rewrites Q:; the sheet music's tempo mark, the MIDI and the audio are then all
made from that one field, so they cannot disagree.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from abcgen.abc import header as abcfields
from abcgen.tune_types import tune_type

# What the tempo control offers, in beats a minute: what a Q: field may say (abcgen.abc.check.parse_tempo)
# and, counted in quarter notes, what the converters play (abcgen.render.outputs's bounds).
Q_LOW, Q_HIGH = 20, 400
PLAY_LOW, PLAY_HIGH = 20.0, 600.0   # quarter notes a minute

BEAT_NAMES = {Fraction(1, 4): "quarter notes", Fraction(3, 8): "dotted quarters", Fraction(1, 2): "half notes",
              Fraction(3, 4): "dotted halves", Fraction(1, 8): "eighth notes", Fraction(1, 1): "whole notes",
              Fraction(3, 16): "dotted eighths"}


def _header(abc: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for letter, value in abcfields.split_tune(abc)[0]:
        fields.setdefault(letter, value)
    return fields


def written_beat(q: str | None) -> Fraction | None:
    """The beat a Q: field counts in ("3/8=116" -> 3/8; "1/4 3/8=40" -> 5/8); None without one."""
    m = re.fullmatch(r'\s*(?:"[^"]*"\s*)?((?:\d+/\d+\s*)+)=\s*\d+(?:\.\d+)?\s*(?:"[^"]*")?\s*', q or "")
    if not m:
        return None
    parts = [Fraction(f) for f in m.group(1).split() if not f.endswith("/0")]
    beat = sum(parts, Fraction(0))
    return beat if beat > 0 else None


def beat_of(abc: str) -> Fraction:
    """The note value the tune's tempo is counted in: its Q: field's, else its tune type's (R:),
    else its meter's (dotted quarters for 6/8, 9/8 and 12/8, halves for 2/2)."""
    fields = _header(abc)
    beat = written_beat(fields.get("Q"))
    if beat:
        return beat
    kind = tune_type(fields.get("R"))
    if kind:
        return Fraction(kind.beat)
    meter = fields.get("M", "").replace(" ", "")
    if meter in ("2/2", "C|"):
        return Fraction(1, 2)
    m = re.fullmatch(r"(\d+)/8", meter)
    if m and int(m.group(1)) % 3 == 0 and int(m.group(1)) > 3:
        return Fraction(3, 8)
    return Fraction(1, 4)


def written_quarter_bpm(abc: str) -> float | None:
    """The tempo the tune's Q: field asks for, in quarter notes a minute; None without a readable one."""
    bpm = abcfields.tempo_bpm(_header(abc).get("Q"), default=0.0)
    return bpm or None


def beat_name(beat: Fraction) -> str:
    return BEAT_NAMES.get(beat, f"{beat} notes")


@dataclass
class Control:
    """What the tempo control shows for a tune: its beat, its range and value, in beats a minute;
    `note` says why the value was moved into the range (empty when it was not)."""
    beat: Fraction
    low: int
    high: int
    value: int
    note: str = ""

    @property
    def label(self) -> str:
        return f"Tempo ({beat_name(self.beat)} a minute)"


def bounds(beat: Fraction) -> tuple[int, int]:
    """The tempos, in beats a minute, that Q: can hold and the converters can play."""
    quarters = float(beat * 4)
    return max(Q_LOW, math.ceil(PLAY_LOW / quarters)), min(Q_HIGH, math.floor(PLAY_HIGH / quarters))


def control(abc: str, quarter_bpm: float) -> Control:
    """The tempo control for a tune that plays at `quarter_bpm` quarter notes a minute."""
    beat = beat_of(abc)
    low, high = bounds(beat)
    value = quarter_bpm / float(beat * 4)
    shown = int(min(max(round(value), low), high))
    note = ""
    if round(value) != shown:
        q = _header(abc).get("Q", "")
        where = f"Q:{q}" if q else "its tempo"
        note = (f"The tune's tempo ({where}, {value:g} {beat_name(beat)} a minute) is outside what the "
                f"tempo control offers ({low} to {high}); the control shows {shown}. "
                "Press Apply tempo to play it at that.")
    return Control(beat, low, high, shown, note)


def with_tempo(abc: str, beat: Fraction, bpm: int) -> str:
    """The tune with its Q: header field set to beat=bpm (added before K: when it has none)."""
    text = abc.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    field = f"Q:{beat.numerator}/{beat.denominator}={int(bpm)}"
    for i, line in enumerate(lines):
        stripped = line.strip()
        if re.match(r"Q:", stripped):
            lines[i] = field
            return "\n".join(lines)
        if re.match(r"K:", stripped):
            lines.insert(i, field)
            return "\n".join(lines)
    return text
