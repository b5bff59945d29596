"""A musician's report on one tune: key and cadence, form as written and as played, bars that
recur and bars that loop, whether its phrases answer, range, chords, rhythm, and how much of it
comes from a training tune (`abcgen.judge.originality`).

Tunes are read bar by bar by `abcgen.judge.reading` (about 2 ms a tune); how they are built (parts,
repeats, loops, answers, cadences) is `abcgen.judge.phrases`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from abcgen.judge import phrases
from abcgen.judge.phrases import Part
from abcgen.judge.reading import Piece, key_info, pitch_class, read

if TYPE_CHECKING:
    from abcgen.judge.originality import Originality

__all__ = ["LENGTH_BINS", "MusicalReport", "analyse", "describe", "read"]


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
    last_note: str | None = None           # ABC name of the last note written (lowest of a chord)
    cadence_note: str | None = None        # the note the tune lands on: its last bar's last strong beat
    ends_on_tonic: bool | None = None      # the cadence note is the tonic of K:
    last_on_tonic: bool | None = None      # the last note written is (what older reports judged)
    bars: int = 0                          # bars as written, an opening pickup not counted
    pickup: bool = False                   # the tune opens with a pickup (bar 0)
    parts: list[Part] = field(default_factory=list)
    repeats: int = 0                       # repeats taken when played
    plays_as: str = ""                     # "AABB"
    early_ends: list[int] = field(default_factory=list)  # |] after these bars, music follows
    recurring_bars: list[int] = field(default_factory=list)
    recurring_share: float = 0.0           # share of bars that equal another bar of the tune
    loops: phrases.Loops = field(default_factory=phrases.Loops)
    loop: str = ""                         # what makes the tune go round in circles ("" when nothing)
    answers: bool | None = None            # bars 5-6 bring back bars 1-2
    b_register: float | None = None        # semitones the B part sits above the A part
    dotted_share: float = 0.0              # share of bars holding a dotted pair (> or <)
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
        out = [self._key_line()] if self.key else []
        if self.parts:
            desc = ", ".join(f"{p.label} {p.bars} bars" + (" with a pickup" if p.pickup else "")
                             + (f", cadence on {p.cadence}" if p.cadence else "") for p in self.parts)
            n = len(self.parts)
            out.append(f"Form: {n} part{'s' if n > 1 else ''} ({desc}); plays as {self.plays_as}"
                       f" ({self.repeats} repeat{'s' if self.repeats != 1 else ''}).")
        if self.recurring_bars:
            out.append(f"Recurring bars: {self.recurring_share:.0%} of the bars occur elsewhere "
                       f"in the tune (bars {_ranges(self.recurring_bars)}).")
        elif self.notes:
            out.append("Recurring bars: none; no bar occurs twice.")
        if self.notes:
            out.append(self._phrase_line())
        if self.lowest is not None:
            out.append(f"Range: {pitch_name(self.lowest, self.lowest_midi)} to "
                       f"{pitch_name(self.highest, self.highest_midi)} (ABC {self.lowest} to {self.highest}), "
                       f"{self.highest_midi - self.lowest_midi} semitones.")
        if self.max_chord_notes:
            rep = f"; repeated notes in {', '.join(self.repeated_note_chords)}" \
                if self.repeated_note_chords else ""
            out.append(f"Chords: up to {self.max_chord_notes} notes{rep}.")
        if self.originality is not None:
            out.append(f"Originality: {self.originality.text()}.")
        out += [f"Note: {p}." for p in self.problems]
        return "\n".join(out)

    def _key_line(self) -> str:
        line = f"Key: K:{self.key}"
        if self.tonic:
            line += f", {self.tonic} {self.mode}"
        if self.in_scale is not None:
            line += f"; {self.in_scale:.0%} of the notes are in its scale"
        if self.cadence_note and self.tonic:
            line += f"; lands on {self.cadence_note}, " + (
                "the tonic" if self.ends_on_tonic else f"not the tonic {self.tonic}")
            if self.last_note != self.cadence_note:
                line += f" (its last note, {self.last_note}, leads on)"
        return line + "."

    def _phrase_line(self) -> str:
        loops = self.loops
        line = f"Phrases: {loops.distinct} different bars"
        line += f"; loops: {self.loop}" if self.loop else "; no bar loops"
        if self.answers is not None:
            line += "; bars 5-6 bring back bars 1-2" if self.answers else "; bars 5-6 do not bring back bars 1-2"
        if self.b_register is not None:
            b = self.b_register
            line += (f"; the B part sits {abs(b):.1f} semitones {'above' if b > 0 else 'below'} the A part"
                     if abs(b) >= 0.05 else "; the B part sits where the A part does")
        return line + "."


def pitch_name(abc_name: str | None, midi: int | None) -> str:
    """A note as musicians name it, letter, sharp or flat and octave (middle C is C4): ABC's
    "^F" sounding at MIDI 66 is "F#4", "a" is "A5"."""
    if not abc_name or midi is None:
        return "?"
    letter = next((c for c in abc_name if c.isalpha()), "?").upper()
    sign = abc_name.count("^") * "#" + abc_name.count("_") * "b"
    # the octave of the written letter: B#3 sounds as C4 and Cb4 as B3 (MIDI 60)
    pc = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}.get(letter, 0)
    shift = abc_name.count("^") - abc_name.count("_")
    return f"{letter}{sign}{(midi - shift - pc) // 12 - 1}"


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
    r.last_note = notes[-1].names[0]
    landing = phrases.cadence(bars, piece.meter)
    r.cadence_note = landing.names[0]
    if r.tonic:
        r.ends_on_tonic = landing.pitches[0] % 12 == pitch_class(r.tonic)
        r.last_on_tonic = notes[-1].pitches[0] % 12 == pitch_class(r.tonic)

    r.pickup = bars[0].number == 0
    r.bars = sum(1 for b in bars if b.number > 0)
    parts, owner = phrases.parts_of(bars, piece.meter)
    order, r.repeats = phrases.played_order(bars)
    r.parts, r.plays_as = parts, phrases.plays_as(parts, owner, order)
    r.early_ends = piece.early_ends
    for n in piece.early_ends:
        r.problems.append(f"|] ends the tune after bar {n}, but music follows")
    _bars_figures(r, piece, parts, owner)
    _pitch_figures(r, piece, notes)
    return r


def _bars_figures(r: MusicalReport, piece: Piece, parts: list[Part], owner: list[int]) -> None:
    """Recurring bars, loops, phrase answers, the B part's register and dotted pairs."""
    bars = piece.bars
    signatures = [phrases.signature(b) for b in bars]
    counts = Counter(s for s, b in zip(signatures, bars) if any(n.pitches for n in b.notes))
    r.recurring_bars = [b.number for s, b in zip(signatures, bars) if counts.get(s, 0) > 1]
    r.recurring_share = len(r.recurring_bars) / max(1, sum(counts.values()))
    r.loops = phrases.loops(bars)
    r.loop = r.loops.problem(r.bars)
    r.answers = phrases.answers(bars)
    r.b_register = phrases.b_register(bars, parts, owner)
    r.dotted_share = sum(b.dotted for b in bars) / len(bars)


def _pitch_figures(r: MusicalReport, piece: Piece, notes: list) -> None:
    """Range, chords, note lengths and intervals."""
    bars = piece.bars
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
