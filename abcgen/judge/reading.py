"""Reads a tune bar by bar, as a musician counts it: every bar as written, with each note's MIDI
pitch and length, and the key in effect. The judge's reports and the originality index read tunes
through it.

The validator (`abcgen.abc.check`) measures bar lengths but keeps no pitches; music21 has right pitches
only after building a stream (tens of milliseconds a tune: its token pass alone ignores inline key
changes, tuplets and accidentals carried through a bar) and loses the bars as written. So `read` is
a light reader built on the validator's tokens; music21 is used for keys and scales.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from abcgen.abc import header as abcfields
from abcgen.abc import reader as abcreader
from abcgen.errors import FieldError

_MODE_NAMES = {"": "major", "min": "minor", "mix": "mixolydian", "dor": "dorian",
               "phr": "phrygian", "lyd": "lydian", "loc": "locrian"}
_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"^": 1, "^^": 2, "_": -1, "__": -2, "=": 0}


# ----------------------------------------------------------------------------------------
# keys (music21 knows them)

@lru_cache(maxsize=256)
def key_info(key: str | None) -> tuple[str | None, str | None, dict, frozenset]:
    """(tonic, mode, key signature letter -> alteration, pitch classes of the scale) for a
    canonical K: value; (None, None, {}, all twelve) when the key names no scale."""
    from music21 import key as m21key
    if key in ("HP", "Hp"):  # Highland pipes: the chanter's A mixolydian
        tonic, mode = "A", "mixolydian"
    else:
        m = re.fullmatch(r"([A-G][#b]?)(min|mix|dor|phr|lyd|loc)?", key or "")
        if not m:
            return None, None, {}, frozenset(range(12))
        tonic, mode = m.group(1), _MODE_NAMES[m.group(2) or ""]
    k = m21key.Key(tonic.replace("b", "-"), mode)
    signature = {} if key == "HP" else {p.step: int(p.accidental.alter) for p in k.alteredPitches}
    return tonic, mode, signature, frozenset(p.pitchClass for p in k.pitches)


def abc_name(step: str, octave: int, alter: int) -> str:
    """ABC spelling with the accidental written out (as under K:C): octave 4 is C..B, 5 is c..b."""
    accidental = {1: "^", 2: "^^", -1: "_", -2: "__"}.get(alter, "")
    if octave >= 5:
        return accidental + step.lower() + "'" * (octave - 5)
    return accidental + step + "," * (4 - octave)


# ----------------------------------------------------------------------------------------
# reading

@dataclass(frozen=True)
class Note:
    """A note, chord or rest: MIDI pitches low to high (none for a rest) and its length in whole
    notes; `names` are the pitches in ABC."""
    pitches: tuple[int, ...]
    length: Fraction
    names: tuple[str, ...] = ()
    text: str = ""


@dataclass
class Bar:
    notes: list[Note]
    left: str                  # bar line before it ("" at the start)
    right: str                 # bar line after it ("" when the tune just stops)
    ending: str                # ending label that starts at this bar ("1", "2", "1,3") or ""
    length: Fraction
    expected: Fraction | None  # what the meter asks for; None in free meter
    unit: Fraction
    key: str | None = None     # the key in effect (K: or a key change before the bar)
    number: int = 0            # as musicians count: a pickup before bar 1 is bar 0
    dotted: bool = False       # holds a dotted pair (broken rhythm, `>` or `<`)

    @property
    def short(self) -> bool:
        return self.expected is not None and self.length < self.expected


@dataclass
class Piece:
    key: str | None
    meter: str
    unit: Fraction
    bars: list[Bar]
    early_ends: list[int]      # bar numbers after which |] ends the tune but music follows


class _Reader:
    """Reads the first voice of a tune, bar by bar, from the shared lexer's tokens; the bar's
    length is counted by the shared `Measure` (tuplets, broken rhythm), as the validator counts it."""

    def __init__(self, abc: str):
        fields, self.body = abcfields.split_tune(abc)
        values = {}
        for letter, value in fields:
            values.setdefault(letter, value)
        meter = self._try(abcfields.parse_meter, values.get("M")) or "none"
        unit = self._try(abcfields.parse_unit, values.get("L"))
        self.measure = abcreader.Measure(meter, Fraction(unit or abcfields.default_unit(meter)))
        self.key = self._try(abcfields.parse_key, values.get("K"))
        self.current_key, self.signature = self.key, key_info(self.key)[2]
        self.bars: list[Bar] = []
        self.early_ends: list[int] = []
        self.voice = self.first_voice = None
        self.pending_left, self.pending_ending = "", ""
        self.after_final = False
        self._new_bar()

    @staticmethod
    def _try(parse, value):
        try:
            return parse(value) if value else None
        except FieldError:
            return None

    def _new_bar(self):
        self.measure.close()
        self.notes: list[Note] = []
        self.accidentals: dict[tuple[str, int], int] = {}
        self.tie = False
        self.dotted = False

    def read(self) -> Piece:
        lexer = abcreader.Lexer()
        for line in self.body.split("\n"):
            m = abcfields.field_line(line.split("%", 1)[0])
            if m:
                if m.group(1) == "X":
                    break  # a second tune
                self.field(m.group(1), m.group(2).strip())
            elif self.voice in (None, self.first_voice):
                for token in lexer.line(line, 0):
                    self.token(token)
        self.close_bar("")
        return Piece(self.key, self.measure.meter, self.measure.unit, self.bars, self.early_ends)

    def field(self, letter: str, value: str):
        if letter == "V":
            name = (value.split() or [""])[0]
            if self.first_voice is None:
                self.first_voice = name
            self.voice = name
        elif letter == "K" and value.split() and not abcfields.is_clef_token(value.split()[0]):
            key = self._try(abcfields.parse_key, value)
            if key:
                self.current_key, self.signature = key, key_info(key)[2]
        elif letter in "ML":
            value = self._try(abcfields.parse_meter if letter == "M" else abcfields.parse_unit, value)
            if value:
                self.measure.set_field(letter, value)

    def token(self, token: abcreader.Token):
        kind, text, _ = token
        if kind == "field":
            m = abcreader.INLINE_FIELD_RE.fullmatch(text)
            self.field(m.group(1), m.group(2).strip())
        elif kind == "ending":
            self.pending_ending = text.lstrip("[")
        elif kind == "bar":
            self.bar_line(text)
        elif kind == "tuplet":
            self.measure.tuplet(text)
        elif kind == "broken":
            before = self.measure.length
            self.dotted = True
            if self.measure.broken_rhythm(text):  # the note before the sign gains what the bar gains
                last = self.notes[-1]
                grown = last.length + self.measure.length - before
                self.notes[-1] = Note(last.pitches, grown, last.names, last.text)
        elif kind == "tie":
            self.tie = True
        elif kind in ("note", "chord"):
            chord = abcreader.chord_notes(text) if kind == "chord" else text
            notes = list(abcreader.NOTE_RE.finditer(chord))
            if notes:
                self.add(tuple(self.pitch(n)[:3] for n in notes), abcreader.multiplier(token), text)
        elif kind == "rest":
            self.add((), abcreader.multiplier(token), text)
        elif kind == "multirest":
            if self.measure.bar_length is not None:
                self.measure.fill(int(text[1:] or 1))
                self.notes.append(Note((), self.measure.length, (), text))
        # anything else takes no time: spacing, slurs, decorations, grace notes, text

    def pitch(self, m: re.Match) -> tuple[str, int, int, str]:
        """Letter, octave (middle C's is 4) and alteration, carrying accidentals through the bar."""
        letter = m.group(2)
        step = letter.upper()
        octave = (5 if letter.islower() else 4) + m.group(3).count("'") - m.group(3).count(",")
        if m.group(1):
            alter = _ACCIDENTALS[m.group(1)]
            self.accidentals[(step, octave)] = alter
        else:
            alter = self.accidentals.get((step, octave), self.signature.get(step, 0))
        return step, octave, alter, abc_name(step, octave, alter)

    def add(self, pitches: tuple, mult: Fraction | None, text: str):
        length = self.measure.note(mult or Fraction(0))
        if self.after_final and self.bars:
            self.early_ends.append(self.bars[-1].number)
        self.after_final = False
        pitches = sorted(pitches, key=_midi)
        midis = tuple(_midi(p) for p in pitches)
        tied = self.tie and self.notes and self.notes[-1].pitches == midis and midis
        self.tie = False
        if tied:
            last = self.notes[-1]
            self.notes[-1] = Note(midis, last.length + length, last.names, last.text + "-" + text)
        else:
            self.notes.append(Note(midis, length, tuple(abc_name(*p) for p in pitches), text))

    def bar_line(self, token: str):
        if self.notes:
            self.close_bar(token)
        elif self.bars and self.bars[-1].right in ("", "|"):
            self.bars[-1].right = token  # "|" then "||" at the next line's start is a "||"
        self.pending_left = token
        if token == "|]":
            self.after_final = True

    def close_bar(self, right: str):
        if not self.notes:
            return
        m = self.measure
        bar = Bar(self.notes, self.pending_left, right, self.pending_ending, m.length, m.bar_length,
                  m.unit, self.current_key, dotted=self.dotted)
        if self.bars:
            bar.number = self.bars[-1].number + 1
        else:
            bar.number = 0 if bar.short else 1
        self.bars.append(bar)
        self.pending_ending = ""
        self._new_bar()


def _midi(p: tuple[str, int, int]) -> int:
    step, octave, alter = p
    return 12 * (octave + 1) + _STEPS[step] + alter


def read(abc: str) -> Piece:
    """The first tune in `abc`, bar by bar as written (first voice only)."""
    return _Reader(abcfields.normalise(abc)).read()


def pitch_class(name: str) -> int:
    """A note name's pitch class ("F#" -> 6)."""
    return (_STEPS[name[0]] + name.count("#") - name.count("b")) % 12
