"""A musician's report on one tune: key and final note, form as written and as played, bars that
recur, range, chords, and how much of it comes from a training tune (`abcgen.judge.originality`).

The validator (`abcgen.abc.check`) measures bar lengths but keeps no pitches; music21 has right pitches
only after building a stream (tens of milliseconds a tune: its token pass alone ignores inline key
changes, tuplets and accidentals carried through a bar) and loses the bars as written. So `read` is
a light reader built on the validator's tokens: every bar as written, with each note's MIDI pitch
and length. A report takes about 2 ms; music21 is used for keys and scales.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

from abcgen.abc import header as abcfields
from abcgen.abc import reader as abcreader
from abcgen.errors import FieldError

if TYPE_CHECKING:
    from abcgen.judge.originality import Originality

MAX_PLAYED = 4096  # bars: a bound on expanding repeats, far above any real tune

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
                  m.unit, self.current_key)
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


# ----------------------------------------------------------------------------------------
# form: parts, and how the repeats play

def part_spans(bars: list[Bar]) -> list[tuple[int, int]]:
    """(first, last + 1) bar indices of each part: parts end at repeats and double bars; endings
    stay with their part; a part holding only a pickup joins the part after it."""
    spans, start = [], 0
    for i, bar in enumerate(bars):
        nxt = bars[i + 1] if i + 1 < len(bars) else None
        if nxt is None or (abcreader.is_section_delimiter(bar.right) and not nxt.ending):
            spans.append((start, i + 1))
            start = i + 1
    merged: list[tuple[int, int]] = []
    carry = None
    for a, b in spans:
        if b - a == 1 and bars[a].short and (a, b) != spans[-1]:
            carry = a if carry is None else carry  # a lone pickup
            continue
        merged.append((a if carry is None else carry, b))
        carry = None
    return merged


def played_order(bars: list[Bar]) -> tuple[list[int], int]:
    """Bar indices in the order they are played (repeats and first/second endings expanded) and
    the number of repeats taken. A :| goes back to the last |:, or to just after the last repeat
    or ending group that was finished, or to the start."""
    order: list[int] = []
    i, start, passes, taken, ending = 0, 0, 1, set(), None
    jumped = False
    while i < len(bars) and len(order) < MAX_PLAYED:
        bar = bars[i]
        if not jumped and bar.left.endswith(":") and i != start:
            start, passes = i, 1
        jumped = False
        if bar.ending:
            ending = abcreader.ending_numbers(bar.ending)
        elif bar.left not in ("", "|"):
            ending = None
        if ending and passes not in ending:
            i += 1
            continue  # an ending for another time through
        order.append(i)
        if bar.right.startswith(":") and i not in taken:
            taken.add(i)
            i, passes, ending, jumped = start, passes + 1, None, True
            continue
        if bar.right.startswith(":") or bar.right.endswith(":") or (
                ending is not None and bar.right not in ("", "|")):
            start, passes = i + 1, 1
        i += 1
    return order, len(taken)


def _signature(bar: Bar) -> tuple:
    """A bar's notes, pitch and length, ignoring how they are written."""
    return tuple((n.pitches, n.length) for n in bar.notes)


@dataclass
class Part:
    label: str            # "A", "B", ...; a part written out again gets its earlier letter
    bars: int             # bars of the part, a pickup and later endings not counted
    pickup: bool          # opens with a short bar leading into it
    first: int            # bar numbers, as in the validator's messages
    last: int
    endings: int = 0      # first/second endings


def _parts(bars: list[Bar]) -> tuple[list[Part], list[int]]:
    """The parts and, for each bar index, the part it belongs to."""
    parts, owner, seen = [], [0] * len(bars), {}
    for k, (a, b) in enumerate(part_spans(bars)):
        pickup = bars[a].short and b - a > 1
        counted, ending = [], None
        for x in bars[a + pickup:b]:  # second and later endings are played instead of the first
            if x.ending:
                ending = abcreader.ending_numbers(x.ending)
            elif x.left not in ("", "|"):
                ending = None
            if ending is None or 1 in ending:
                counted.append(x)
        content = tuple(_signature(x) for x in counted)
        label = seen.setdefault(content, chr(ord("A") + len(seen)) if len(seen) < 26 else "?")
        parts.append(Part(label, len(counted), pickup, bars[a].number, bars[b - 1].number,
                          sum(1 for x in bars[a:b] if x.ending)))
        for j in range(a, b):
            owner[j] = k
    return parts, owner


def plays_as(parts: list[Part], owner: list[int], order: list[int]) -> str:
    """Part letters in playing order: a new letter each time the music moves to another part or
    goes back."""
    out, prev = [], None
    for i in order:
        if prev is None or owner[i] != owner[prev] or i <= prev:
            out.append(parts[owner[i]].label)
        prev = i
    return "".join(out)


# ----------------------------------------------------------------------------------------
# the report

def _length_bin(units: Fraction) -> str:
    if units < 1:
        return "<1"
    if units >= 4:
        return "4+"
    return str(int(units)) if units.denominator == 1 else "dotted/other"


LENGTH_BINS = ("<1", "1", "dotted/other", "2", "3", "4+")


@dataclass
class MusicalReport:
    key: str | None = None                 # K: as read ("Ador")
    tonic: str | None = None               # "A"
    mode: str | None = None                # "dorian"
    in_scale: float | None = None          # share of notes in the mode's scale
    last_note: str | None = None           # ABC name of the last note (lowest of a chord)
    ends_on_tonic: bool | None = None
    bars: int = 0                          # bars as written, an opening pickup not counted
    pickup: bool = False                   # the tune opens with a pickup (bar 0)
    parts: list[Part] = field(default_factory=list)
    repeats: int = 0                       # repeats taken when played
    plays_as: str = ""                     # "AABB"
    early_ends: list[int] = field(default_factory=list)  # |] after these bars, music follows
    recurring_bars: list[int] = field(default_factory=list)
    recurring_share: float = 0.0           # share of bars that equal another bar of the tune
    lowest: str | None = None
    highest: str | None = None
    lowest_midi: int | None = None
    highest_midi: int | None = None
    max_chord_notes: int = 0               # most distinct notes in one chord (0: no chords)
    repeated_note_chords: list[str] = field(default_factory=list)  # "bar 3: [AA]"
    notes: int = 0
    note_lengths: dict[str, float] = field(default_factory=dict)  # L: units -> share of notes
    mean_interval: float | None = None     # semitones between successive notes (top of chords)
    originality: Originality | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        out = []
        if self.key:
            line = f"Key: K:{self.key}"
            if self.tonic:
                line += f", {self.tonic} {self.mode}"
            if self.in_scale is not None:
                line += f"; {self.in_scale:.0%} of the notes are in its scale"
            if self.last_note and self.tonic:
                line += f"; ends on {self.last_note}, " + (
                    "the tonic" if self.ends_on_tonic else f"not the tonic {self.tonic}")
            out.append(line + ".")
        if self.parts:
            desc = ", ".join(f"{p.label} {p.bars} bars" + (" with a pickup" if p.pickup else "")
                             for p in self.parts)
            n = len(self.parts)
            out.append(f"Form: {n} part{'s' if n > 1 else ''} ({desc}); plays as {self.plays_as}"
                       f" ({self.repeats} repeat{'s' if self.repeats != 1 else ''}).")
        if self.recurring_bars:
            out.append(f"Recurring bars: {self.recurring_share:.0%} of the bars occur elsewhere "
                       f"in the tune (bars {_ranges(self.recurring_bars)}).")
        elif self.notes:
            out.append("Recurring bars: none; no bar occurs twice.")
        if self.lowest is not None:
            out.append(f"Range: {self.lowest} ({self.lowest_midi}) to {self.highest} "
                       f"({self.highest_midi}), {self.highest_midi - self.lowest_midi} semitones.")
        if self.max_chord_notes:
            rep = f"; repeated notes in {', '.join(self.repeated_note_chords)}" \
                if self.repeated_note_chords else ""
            out.append(f"Chords: up to {self.max_chord_notes} notes{rep}.")
        if self.originality is not None:
            out.append(f"Originality: {self.originality.text()}.")
        out += [f"Note: {p}." for p in self.problems]
        return "\n".join(out)


def _ranges(numbers: list[int]) -> str:
    """1, 2, 3, 5 -> '1-3, 5'"""
    out, start = [], None
    for k, n in enumerate(numbers):
        if start is None:
            start = n
        if k + 1 == len(numbers) or numbers[k + 1] != n + 1:
            out.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(out)


def analyse(abc: str, index=None, originality: bool = True) -> MusicalReport:
    """The musical report on a tune. `index` is an `abcgen.judge.originality.CorpusIndex` (by default
    the training corpus's, when it has been built); with `originality=False` no corpus is
    consulted. Never raises: what cannot be read is named in `problems`."""
    try:
        piece = read(abc)
    except Exception as e:  # a reader bug must not take the caller down
        return MusicalReport(problems=[f"the tune could not be read ({e})"])
    report = describe(piece)
    if originality and piece.bars:
        try:
            from abcgen.judge import originality as orig
            index = index or orig.default_index()
            if index is None:
                report.problems.append("originality was not checked: the training corpus is not "
                                       "indexed yet (python -m abcgen.judge.originality)")
            else:
                report.originality = index.lookup(piece)
        except Exception as e:  # no corpus at hand: the rest of the report still stands
            report.problems.append(f"originality was not checked ({e})")
    return report


def describe(piece: Piece) -> MusicalReport:
    """Everything in the report but originality."""
    r = MusicalReport(key=piece.key)
    r.tonic, r.mode, _, _ = key_info(piece.key)
    if piece.key is None:
        r.problems.append("the key (K:) is missing or unreadable, so the tonic is not judged")
    bars = piece.bars
    notes = [n for b in bars for n in b.notes if n.pitches]
    r.notes = len(notes)
    if not notes:
        r.problems.append("the tune has no notes")
        return r
    if r.tonic:  # each note against the key in effect where it is
        r.in_scale = sum(n.pitches[-1] % 12 in key_info(b.key)[3] for b in bars for n in b.notes
                         if n.pitches) / len(notes)
    last = notes[-1]
    r.last_note = last.names[0]
    if r.tonic:
        r.ends_on_tonic = last.pitches[0] % 12 == _pitch_class(r.tonic)

    r.pickup = bars[0].number == 0
    r.bars = sum(1 for b in bars if b.number > 0)
    parts, owner = _parts(bars)
    order, r.repeats = played_order(bars)
    r.parts, r.plays_as = parts, plays_as(parts, owner, order)
    r.early_ends = piece.early_ends
    for n in piece.early_ends:
        r.problems.append(f"|] ends the tune after bar {n}, but music follows")

    signatures = [_signature(b) for b in bars]
    counts = Counter(s for s, b in zip(signatures, bars) if any(n.pitches for n in b.notes))
    r.recurring_bars = [b.number for s, b in zip(signatures, bars) if counts.get(s, 0) > 1]
    r.recurring_share = len(r.recurring_bars) / max(1, sum(counts.values()))

    low = min(notes, key=lambda n: n.pitches[0])
    high = max(notes, key=lambda n: n.pitches[-1])
    r.lowest, r.lowest_midi = low.names[0], low.pitches[0]
    r.highest, r.highest_midi = high.names[-1], high.pitches[-1]
    for b in bars:
        for n in b.notes:
            if len(n.pitches) > 1:
                r.max_chord_notes = max(r.max_chord_notes, len(set(n.pitches)))
                if len(set(n.pitches)) < len(n.pitches):
                    r.repeated_note_chords.append(f"bar {b.number}: {n.text}")

    units = Counter(_length_bin(n.length / b.unit) for b in bars for n in b.notes if n.pitches)
    r.note_lengths = {k: units[k] / len(notes) for k in LENGTH_BINS}
    tops = [n.pitches[-1] for n in notes]
    if len(tops) > 1:
        r.mean_interval = sum(abs(a - b) for a, b in zip(tops, tops[1:])) / (len(tops) - 1)
    return r


def _pitch_class(name: str) -> int:
    return (_STEPS[name[0]] + name.count("#") - name.count("b")) % 12
