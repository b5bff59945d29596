"""The one table of instruments a tune can be played on: General MIDI program, the range a player
of it reaches (in written pitch) and the voice the built-in synthesizer gives it when no soundfont
is installed. The app, the API, `convert` and the range warnings all read it.
"""
from __future__ import annotations

from dataclasses import dataclass

from abcgen.errors import FieldError

DEFAULT = "fiddle"
CHORD_PROGRAM = 24  # chord symbols are strummed on a nylon-string guitar, softer than the melody
NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


@dataclass(frozen=True)
class Instrument:
    name: str
    program: int     # General MIDI program, 0-based (40 is the violin)
    low: int         # lowest written note it plays, as a MIDI number
    high: int        # highest
    voice: str       # the built-in synthesizer's timbre: bowed, blown, reed, plucked or struck
    octave: int = 0  # sounds this many octaves above the written note (the whistle reads an octave down)


INSTRUMENTS: dict[str, Instrument] = {i.name: i for i in (
    Instrument("fiddle", 40, 55, 93, "bowed"),             # G3 to A6
    Instrument("flute", 73, 62, 93, "blown"),              # wooden D flute: D4 to A6
    Instrument("tin whistle", 78, 62, 86, "blown", 1),     # D whistle: D to d' written, sounding D5 to D7
    Instrument("accordion", 21, 52, 93, "reed"),           # button accordion: E3 to A6
    Instrument("concertina", 23, 55, 96, "reed"),          # GM's bandoneon, a concertina: G3 to C7
    Instrument("uilleann pipes", 109, 62, 88, "reed"),     # GM's bagpipe; the chanter plays D4 to E6
    Instrument("harp", 46, 36, 93, "plucked"),             # lever harp: C2 to A6
    Instrument("piano", 0, 21, 108, "struck"),
    Instrument("guitar", CHORD_PROGRAM, 52, 88, "plucked", -1),  # written an octave above its sound
)}


def instrument(name) -> Instrument:
    """The instrument a name means ("Fiddle", "tin whistle"); FieldError naming the choices."""
    key = " ".join(str(name or DEFAULT).lower().replace("_", " ").replace("-", " ").split())
    if key in INSTRUMENTS:
        return INSTRUMENTS[key]
    raise FieldError("instrument", f"there is no instrument called {str(name)[:40]!r}; choose one of "
                                   f"{', '.join(INSTRUMENTS)}")


def note_name(midi: int) -> str:
    """C4 is middle C."""
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def range_warnings(notes: list[tuple[int, int]], player: Instrument) -> list[str]:
    """What the player cannot reach, from (written MIDI pitch, bar number) pairs: one line for the
    notes below the range and one for those above, each naming the furthest note and the first bar."""
    out = []
    reach = f"the {player.name}'s range ({note_name(player.low)} to {note_name(player.high)})"
    for word, outside in (("below", [n for n in notes if n[0] < player.low]),
                          ("above", [n for n in notes if n[0] > player.high])):
        if outside:
            furthest = (min if word == "below" else max)(p for p, _ in outside)
            count = f"{len(outside)} notes go" if len(outside) > 1 else "1 note goes"
            out.append(f"{count} {word} {reach}, as far as {note_name(furthest)}, first in bar "
                       f"{outside[0][1]}: transpose the tune or choose another instrument.")
    return out
