"""Rolls (`~`) made audible.

music21 reads grace notes and cuts (`{g}A`) but drops the roll sign, so the rolls are found in the
tokens music21 read (`roll_flags`, before the score is built) and marked on the score's notes
(`mark_rolls`). A marked note is played as folk players play a roll: the note, a cut above, the note,
a tap below, the note (`roll`).
"""
from __future__ import annotations

import re
from fractions import Fraction

CUT_QL = Fraction(1, 8)  # a cut or tap lasts a 32nd note at most
STEPS = "CDEFGAB"


def roll_flags(handler) -> list[bool]:
    """For each note, rest or chord music21 read, in order: whether a `~` stands before it."""
    return [bool(re.search("~", re.sub(r'"[^"]*"', "", t.src)))
            for t in handler.tokens if type(t).__name__ in ("ABCNote", "ABCChord")]


def mark_rolls(score, flags: list[bool]) -> int:
    """Mark the rolled notes (editorial "roll") of a one-voice tune; the number marked. A tune
    whose notes do not match the tokens one to one (several voices) keeps its rolls unplayed."""
    from music21 import harmony

    notes = [n for n in score.recurse().notesAndRests if not isinstance(n, harmony.ChordSymbol)]
    if len(notes) != len(flags) or not any(flags):
        return 0
    marked = 0
    for note, rolled in zip(notes, flags):
        if rolled and note.isNote:
            note.editorial.roll = True
            marked += 1
    return marked


def is_rolled(note) -> bool:
    return bool(note.isNote and note.editorial.get("roll"))


def neighbour(note, key, direction: int) -> int:
    """MIDI pitch of the scale step above (+1) or below (-1) the note in the key signature `key`."""
    from music21 import pitch

    index = STEPS.index(note.pitch.step) + direction
    other = pitch.Pitch(f"{STEPS[index % 7]}{note.pitch.octave + index // 7}")
    accidental = key.accidentalByStep(other.step) if key is not None else None
    if accidental is not None:
        other.accidental = accidental.name
    return other.midi


def roll(onset: Fraction, length: Fraction, note, key) -> list[tuple[Fraction, Fraction, int]]:
    """(onset, length, MIDI pitch) of the notes a rolled note is played as."""
    main = note.pitch.midi
    cut = min(CUT_QL, length / 6)
    third = length / 3
    shape = [(main, third - cut), (neighbour(note, key, 1), cut), (main, third - cut),
             (neighbour(note, key, -1), cut), (main, length - 2 * third)]
    out, at = [], onset
    for pitch_, dur in shape:
        out.append((at, dur, pitch_))
        at += dur
    return out
