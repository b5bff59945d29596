"""The values `abcgen.abc.accepts.next_state` sums a tune state up in, and `allows(value, c)`: whether
one character may come next. The values are small and hashable, so a sampler keeps one mask per
value; why each rule exists is said in `abcgen.abc.accepts`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from abcgen.abc.reader import DECORATION_LETTERS
from abcgen.abc.tune import END

NOTE_LETTERS = frozenset("ABCDEFGabcdefg")
NOTE_STARTS = NOTE_LETTERS | frozenset("z")   # no invisible rests "x"
NO_DIGITS: frozenset = frozenset()


# ----------------------------------------------------------------------------------------
# states: hashable values, never changed once made (frozen=True would cost a third of the time the
# sampler spends on the tune state)

@dataclass(unsafe_hash=True)
class Detail:
    """What the note being written (or the symbol before) allows next."""
    digits: frozenset = NO_DIGITS      # digits that may come next
    slash: bool = False                # "/" may come next
    octave: str = ""                   # the octave marks that may come next ("," after C-B only)
    tie: bool = False                  # "-" may come next
    colon: bool = True                 # ":" may come next (as part of a repeat sign)
    must: str | None = None            # the one character that must come next, if any
    bracket: bool = False              # "]" may come next (as in "|]")


@dataclass(unsafe_hash=True)
class Group:
    """Inside a chord, grace notes, chord symbol, !decoration! or "[K" (name says which)."""
    name: str
    closable: bool                     # it holds a note (or text) and may close
    octave: str = ""                   # octave mark that may follow the last note
    more: bool = True                  # another note may come
    used: frozenset = frozenset()      # notes already in a chord (no note twice)
    accidental: str = ""               # the accidental just written, waiting for its note
    doubled: bool = False              # ... written twice already (^^, __)


@dataclass(unsafe_hash=True)
class InlineField:
    """Inside "[K:...": close it once its value is one we read."""
    closable: bool


@dataclass(unsafe_hash=True)
class Empty:
    """A bar just began."""
    end_ok: bool                       # the tune may end (or "|]" be written) here
    lines_ok: bool                     # another bar line may come
    gate: frozenset | None             # the letters a note that fills the bar must have
    detail: Detail


@dataclass(unsafe_hash=True)
class Part:
    """A bar with room left."""
    short_ok: bool                     # it may close short (a pickup)
    broken_ok: bool                    # a broken rhythm may follow the note
    tuplet_open: bool
    colon_only: bool                   # it ends a repeated part: it closes with ":|"
    gate: frozenset | None
    note_ok: bool                      # another note fits, at its shortest
    detail: Detail


@dataclass(unsafe_hash=True)
class Full:
    """The bar is full: close it (":|" when colon_only); `over`: the note being written overfills
    it and must be shortened first."""
    colon_only: bool
    detail: Detail
    over: bool = False


@dataclass(unsafe_hash=True)
class Only:
    """Exactly these characters may come next (after ":", an accidental, "[", "|]", ...)."""
    chars: frozenset


BarState = Union[Empty, Part, Full]


@dataclass(unsafe_hash=True)
class Plain:
    """The "|" just written stays a plain bar line: the part goes on."""
    bar: BarState


@dataclass(unsafe_hash=True)
class Broken:
    """A>B: the second note comes right away."""
    bar: BarState


@dataclass(unsafe_hash=True)
class Tie:
    """A tie waits for its note, the same pitch."""
    letter: str
    bar: BarState


@dataclass(unsafe_hash=True)
class Decorated:
    """A decoration waits for its note."""
    bar: BarState
    grace_ok: bool                     # grace notes may come ({g} needs a note between groups)
    paren_ok: bool                     # a slur may open (".(AB)", "{g}(AB)", but not "T(AB)" or "~(AB)")
    tuplet_ok: bool = False            # "{g}(" may go on to a tuplet


@dataclass(unsafe_hash=True)
class Next:
    """What may come next after a tune state: the bar's rules, and the line's: no blank line in the
    body (it would end the tune for every ABC reader), no header-field line (a letter then ":" at
    a line start) and one space at a time, none to open a line; `loops`: characters that would
    complete a bar the writer may not write again (`policy.loop_chars`)."""
    policy: object
    line_start: bool
    field_start: bool
    spaced: bool
    loops: frozenset = frozenset()


# ----------------------------------------------------------------------------------------
# one character

NOTE_TEXT = frozenset("ABCDEFGabcdefg^_=")
INLINE_FIELDS = frozenset()  # the model may not change key or meter mid-tune: it loses its way there
GROUP_RULES = {  # what may come next inside a group, given whether it may close
    "chord": lambda c, closable: c in NOTE_TEXT or (c == "]" and closable),
    "grace": lambda c, closable: c in NOTE_TEXT or (c == "}" and closable),
    "field_name": lambda c, closable: c == ":",                # "[K" so far
    "quote": lambda c, closable: c not in "\n|",
    "decoration": lambda c, closable: c not in "\n| ",
}
WRITTEN = frozenset(" \n|:[](){<>-/,'^_=.~")   # the symbols a body is written with
FULL_OK = frozenset("|: )")        # a full bar: close it (a slur may end first)
ENDS = frozenset({"]", END})       # "|]", or the end right after a bar line
FINISH = Only(frozenset({END, "\n"}))
ESCAPES = NOTE_TEXT | frozenset("z123456789/,'")   # what may write a bar other than a looping one
DECORATIONS = DECORATION_LETTERS - {"k"}   # "k" is no ABC 2.1 decoration; abc2midi ignores it
DECORATED = NOTE_LETTERS | frozenset("^_=")   # what a decoration precedes: a note, one decoration at a time
                                              # (music21 reads "TLc" or "~Tc" as a note it cannot pitch)


def allows(state: Next, c: str) -> bool:
    """Whether character `c` may come next in a `next_state`."""
    if (c == "\n" and state.line_start) or (c == ":" and state.field_start) or (c == " " and state.spaced) \
            or c in state.loops:
        return False
    return permits(state.policy, c)


def permits(state, c: str) -> bool:
    """Whether character `c` may come next under the bar's rules (`next_state`)."""
    kind = type(state)
    if kind is Only:
        return c in state.chars
    if c == END and kind in (Group, InlineField, Plain):
        return False
    if kind is Group:
        if state.name in ("chord", "grace"):   # notes without lengths (a chord's goes after its "]")
            if c in ",'":
                return c == state.octave
            if c in NOTE_TEXT and (not state.more or c in state.used):
                return False
            if c in "^_=" and state.accidental and (c != state.accidental or c == "=" or state.doubled):
                return False                   # "^", "^^", "_", "__", "=": one accidental a note
        return GROUP_RULES[state.name](c, state.closable)
    if kind is InlineField:
        return c not in "\n|[]" or (c == "]" and state.closable)
    if kind is Plain:
        return c not in "|]:" and not c.isdigit() and permits(state.bar, c)
    if kind is Tie:
        bar_open = type(state.bar) in (Empty, Part)
        if c == state.letter or c in "()":
            return bar_open               # no decoration on a tied-to note (abc2midi plays ~ as notes)
        return c in " \n|" and permits(state.bar, c)
    if kind is Broken:                     # slurs may come between (A>(B, (A>)B)
        return (c in NOTE_STARTS or c in "^_=" or c in "()") and permits(state.bar, c)
    if kind is Decorated:
        if c == "{" and not state.grace_ok:
            return False                   # grace notes need a note between them
        if c == "(":
            return state.paren_ok and permits(state.bar, c)
        if c.isdigit():                    # a tuplet after grace notes, "{g}(3", not after a decoration
            return state.tuplet_ok and permits(state.bar, c)   # (abc2midi misreads ".(3", "~(3")
        return c in DECORATED and type(state.bar) in (Empty, Part) and permits(state.bar, c)
    return _barpermits(state, c)


def _barpermits(state: BarState, c: str) -> bool:
    kind = type(state)
    if c in '!"+' or not (c in WRITTEN or c.isalnum() or c == END):
        return False                       # no new !decoration! or "text": the model loses its way in them;
                                           # no comment, overlay or stray symbol
    detail = state.detail
    if detail.must is not None:            # the note being written must go on (a fixed length)
        return c == detail.must or (c in ",'" and c in detail.octave)
    gate = state.gate if kind in (Empty, Part) else None
    if kind is Part and not state.note_ok and (c in NOTE_STARTS or c in "^_=[(.~{" or c in DECORATIONS):
        return False                       # no room left for another note, nor for what leads to one
    if gate is not None and (c in NOTE_STARTS or c in "^_=["):
        return c in NOTE_LETTERS and c.upper() in gate   # the note that ends a part: tonic chord
    if c == "|" and kind in (Full, Part) and state.colon_only:
        return False                       # this bar ends a repeated part: ":|"
    if c.isdigit():
        return int(c) in detail.digits
    if c == "/":
        return detail.slash
    if c in ",'":
        return c in detail.octave
    if c == "-":
        return detail.tie
    if c == ":" and not detail.colon:
        return False
    if c == "]":                           # "|]" only where the tune may end
        return detail.bracket and (kind is not Empty or state.end_ok)
    if kind is Full:
        return c in FULL_OK and not state.over
    if c.isalpha():                        # notes, rests and one-letter decorations, no words
        return c in NOTE_STARTS or c in DECORATIONS
    if kind is Empty:
        if c in "|:":
            return state.lines_ok
        if c in "<>":
            return False                   # a broken rhythm needs a note before it
        return c != END or state.end_ok
    if c == END:
        return False
    if c in "|:":
        return state.short_ok and not state.tuplet_open
    if c in "<>":
        return state.broken_ok
    return True
