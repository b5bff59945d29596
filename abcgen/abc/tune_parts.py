"""The parts a tune state (`abcgen.abc.tune.TuneState`) is made of: what is asked of the tune, where it
is in its sections, what its notes ask of the next ones, and its repeats. Plain dataclasses; the
state copies them before it changes them, so a state once made never changes."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Asked:
    """What the tune is asked to be: a form (sections, bars per section, which repeat, bars counted
    as musicians count them), a key's cadence and a melody's range."""
    sections: int | None = None
    bars: tuple[int | None, ...] = ()
    repeats: tuple[bool, ...] = ()
    full_bars: bool = False
    cadence: tuple[str, frozenset] | None = None   # the mode's final and its tonic triad
    low: int | None = None                         # the range as pitch_index values
    high: int | None = None

    @cached_property
    def form(self) -> bool:
        """Whether a form is asked for at all."""
        return self.sections is not None or any(b is not None for b in self.bars)


@dataclass
class Section:
    """Where the writer is in the parts (sections) of the tune."""
    done: int = 0                 # sections written, each with notes
    ends: int = 0                 # section ends (delimiters) written
    lines: int = 0                # plain bar lines since the section's first note
    bars: int = 0                 # bars closed in the section
    has_notes: bool = False
    opened_short: bool = False    # the section opened with a short bar (a pickup)

    def end(self) -> None:
        """A section delimiter: the next section begins."""
        self.done += self.has_notes
        self.ends += 1
        self.lines, self.bars, self.has_notes, self.opened_short = 0, 0, False, False


@dataclass
class Links:
    """What the notes written so far ask of the next ones: ties, broken rhythms, tuplets and
    decorations."""
    exact: str | None = None          # the length suffix the note being written must have
    broken_suffix: str | None = None  # ... that the second note of A>B must have (A's)
    broken_next: bool = False         # a broken rhythm waits for its second note
    tuplet_suffix: str | None = None  # a tuplet's notes all have its first note's length
    tuplet_first: bool = False        # a tuplet just began: its first note sets that length
    tie_letter: str | None = None     # a tie waits for this note
    tie_octave: int = 0               # ... written with this many octave marks
    octave_target: int | None = None  # a tied-to note must repeat the marks
    deco: bool = False                # a decoration waits for its note
    decos: str = ""                   # decorations written since the last note
    note_decos: str = ""              # ... and those on the note being written
    last_suffix: str = ""             # the length written after the last note finished
    last_pitch: str | None = None     # letter of the last note ("" for a rest, a chord or an accidental)


@dataclass
class Repeats:
    """Repeat signs and endings written so far."""
    open: bool = False            # a "|:" waits for its ":|"
    reopened: bool = False        # ... and it was opened by ":|:" or "::" (abc2midi then reads no "|1")
    closed: int = 0               # repeats closed so far
    just_closed: bool = False     # a repeat just closed and no note came since
    first_ending: bool = False    # a first ending waits for its second
    ending_open: bool = False     # a first ending waits for the ":|" that closes it
    second_ending: bool = False   # a second ending is being written (it ends at "||" or "|]")
