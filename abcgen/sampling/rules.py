"""What the sampler may write next, given where a bar clock (`abcgen.sampling.clock`) is: the policy
on top of the reader of ABC.

What it forbids, and why:
- inside an unclosed group (a chord [CE], grace notes {g}, or, typed in an opening, an inline
  field [K:G], a chord symbol "Am" or a decoration !trill!) a line break, bar line or the end;
  inside a chord or grace group only notes may follow; a new inline field, chord symbol or
  !decoration! (the model loses its way inside them), and "[|" (write ":|" or "||");
- a note, or a longer note length, that would overfill the bar: a full bar must be closed;
- a bar line that closes a bar short, except for the pickups musicians write: the tune's first
  bar, a part's first bar after a double bar or repeat, and a part's last bar when it completes
  the pickup (then it must end with a double bar or repeat, not a plain "|"); a bar line inside a
  tuplet that has notes left;
- note lengths abc2midi cannot read (A/3, A//2, stray "/" or digits), more than two octave marks;
- a tie that leads to a rest or another pitch, a decoration that leads to no note (or to another
  decoration: music21 cannot read a stack), invisible rests "x", a broken rhythm
  (A>B) between notes of different written lengths;
- a repeat that opens while another is open, an ending other than "|1" or ":|2", an ending before
  any note;
- the end of the tune anywhere but just after a closing bar line, or with a repeat or a first
  ending left open; a final bar line "|]" anywhere but at the end, and "||" or "|]" inside an open
  repeat (both would make the tune play ABAB where AABB was written);
- comments, voice overlays (&) and symbols ABC does not define (#, @, ...);
- chords of more than two notes or with a note twice (a fiddler's double stop at most);
- with a key: the end of the tune unless its last note is the key's tonic (the mode's final: A for
  Ador), and, without a requested form, before two parts are written;
- with a range: octave marks that leave the instrument's range;
- with a requested form: a plain bar line where a section must end, a section end before its bars
  are written, an ending "|1" (it would join two sections), and the end of the tune before the
  last section; after it, anything but the end. A repeated part must open with "|:" and close
  with ":|". With a key, a part's last bar ends on a note of the tonic chord and the last part's
  on the tonic: in that bar, a note that would fill the bar must be one of them, and any other
  note may not be long enough to fill it.

`next_state(clock)` sums this up as a small hashable value (one of the dataclasses below) and
`allows(state, c)` answers for one character.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from fractions import Fraction
from typing import TYPE_CHECKING, Union

from abcgen.abc import header as abc_fields
from abcgen.abc.reader import DECORATION_LETTERS, LENGTH_RE, length_multiplier, tuplet_ratio
from abcgen.learn.vocab import END

if TYPE_CHECKING:
    from abcgen.sampling.clock import BarClock

NOTE_LETTERS = frozenset("ABCDEFGabcdefg")
NOTE_STARTS = NOTE_LETTERS | frozenset("z")   # no invisible rests "x"
MAX_OCTAVE_MARKS = 2
MAX_GROUP_NOTES = 4                     # notes in a group of grace notes
MAX_CHORD_NOTES = 2                     # a double stop
TUPLETS = frozenset({2, 3, 4})
NO_DIGITS: frozenset = frozenset()
HALVING = frozenset({2, 4, 8})          # A/2, A/4, A/8: denominators abc2midi reads
UNBOUNDED = Fraction(10 ** 9)           # room left in a bar of free meter
ONE, EIGHTH = Fraction(1), Fraction(1, 8)


# ----------------------------------------------------------------------------------------
# states: hashable values, never changed once made (frozen=True would cost a third of the time the
# sampler spends in the clock)

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
    """A bar clock's state: the bar's rules, and the line's: no blank line in the body (it would
    end the tune for every ABC reader), no header-field line (a letter then ":" at a line start)
    and one space at a time, none to open a line."""
    policy: object
    line_start: bool
    field_start: bool
    spaced: bool


# ----------------------------------------------------------------------------------------
# from a clock to a state

def next_state(clock: BarClock) -> Next:
    prev, prev2 = clock.prev, clock.prev2
    line_start = prev in ("", "\n")
    return Next(_policy(clock), line_start, prev.isalpha() and prev2 in ("", "\n"), line_start or prev == " ")


def _policy(clock: BarClock):
    if clock.group:
        return _group_state(clock)
    prev, prev2 = clock.prev, clock.prev2
    if clock.ended or (clock.form_done() and not clock.need_delim and prev not in ":"):
        return FINISH                     # "|]" was written, or the requested sections are
    if clock.need_delim:                  # no "|:" that opens a repeat at the very end
        ends_tune = clock.form_done_after_delimiter()
        may_end = not clock.open_repeat and (not clock.asked.form or ends_tune) and _may_end(clock)
        colon_ok = not clock.open_repeat and (clock.asked.sections is None or not ends_tune)
        double_ok = not clock.open_repeat and not (clock.asked.form and ends_tune)
        # the "|" just written closes a part: make it "|:", "||" or "|]", or end the tune
        return Only(frozenset(":" * colon_ok + "|" * double_ok) | (ENDS if may_end else frozenset()))
    if clock.part_repeats() and not clock.repeats.open and not clock.section.has_notes and not clock.notes:
        # a repeated part opens with "|:" (":|:" right after the last part's ":|" will do)
        space_ok = prev != "|" or prev2 == ":"
        return Only(frozenset((":" if prev == "|" else "|") + " \n" * space_ok))
    if clock.need_plain:
        return Plain(_tie_or_bar(clock))
    if prev == ":" and not clock.tuplet_spec and prev2 not in "|:":
        return Only(frozenset("|"))       # ":|" goes on (":|:" rather than the "::" shorthand)
    if prev in "^_=" and prev:
        return Only(NOTE_LETTERS | frozenset(prev if prev2 != prev and prev != "=" else ""))  # ^^, __
    if clock.links.broken_next:
        return Broken(_bar_state(clock))
    if clock.links.tie_letter and not clock.open_note:
        return _tie_or_bar(clock)
    if clock.links.deco:
        return Decorated(_bar_state(clock), prev != "}", prev in ".}", prev == "(" and prev2 == "}")
    return _bar_state(clock)


def _tie_or_bar(clock: BarClock):
    """A tie that waits for its note, else the bar's state."""
    bar = _bar_state(clock)
    return Tie(clock.links.tie_letter, bar) if clock.links.tie_letter and not clock.open_note else bar


def _may_end(clock: BarClock) -> bool:
    """No repeat or first ending left open, and the cadence and parts allow it."""
    return not clock.repeats.ending_open and clock.final_ok()


def _group_state(clock: BarClock):
    name = clock.group
    if name == "bracket":
        # just after "[": a chord, an inline field or an ending "[1"
        return Only(frozenset(NOTE_TEXT) | INLINE_FIELDS | frozenset(str(d) for d in _ending_digits(clock)))
    if name == "field":
        return InlineField(_field_ok(clock.group_text))
    # closable once it holds a note; octave marks only after a letter of the right case (at most
    # two); at most MAX_GROUP_NOTES notes
    text = clock.group_text
    last = text[-1:]
    marks = len(text) - len(text.rstrip(",'"))
    case = "" if marks >= MAX_OCTAVE_MARKS else "," if last.isupper() else "'" if last.islower() else ""
    notes = sum(c in NOTE_LETTERS for c in text)
    closable = notes > 0 and last not in "^_="
    pending = text[len(text.rstrip("^_=")):]   # accidentals waiting for their note
    accidental, doubled = pending[-1:], len(pending) > 1
    if name == "chord":                   # a double stop: two different notes at most
        used = frozenset(c for c in text if c in NOTE_LETTERS)
        return Group(name, closable, case, notes < MAX_CHORD_NOTES, used, accidental, doubled)
    return Group(name, closable, case, notes < MAX_GROUP_NOTES, frozenset(), accidental, doubled)


def _bar_state(clock: BarClock) -> BarState:
    length = clock.bar_length_now()
    m, _ = clock.now()
    room = UNBOUNDED if length is None else length - m.length
    cadence = clock.cadence_letters()
    # the notes that may come next when the next note, at its plain (or fixed) length, fills the bar
    fixed = clock.links.broken_suffix if clock.links.broken_suffix is not None else clock.links.tuplet_suffix
    plain = _suffix_length(fixed) if fixed else None
    gate = cadence if cadence is not None and room <= m.duration(plain or ONE) else None
    if clock.notes == 0:
        end_ok = clock.closing and clock.bars > 0 and not clock.open_repeat and \
            (clock.asked.sections is None or clock.form_done()) and _may_end(clock)
        # under a form, bar lines only at a section's edges (no empty bars inside it)
        # no "||" inside a repeat, no "|||", no "|:|"
        lines_ok = (not clock.asked.form or (not clock.section.has_notes and clock.blank)) \
            and not (clock.prev == "|" and (clock.open_repeat or clock.prev2 == "|")) \
            and not (clock.prev == ":" and clock.prev2 == "|")
        return Empty(end_ok, lines_ok, gate, _detail(clock, None))
    # closing this bar must be ":|" when it ends a part inside an open or requested repeat
    short = clock.short_kind()
    delimiter = (clock.asked.form and clock.last_bar_of_part()) or short == "completes"
    colon_only = delimiter and (clock.open_repeat or clock.part_repeats())
    strict = cadence is not None and clock.links.last_pitch not in cadence
    # no tie into the next part (or past the end), nor into a part's last bar, whose last note is its
    # cadence
    tie_ok = not delimiter and not (clock.asked.cadence is not None and clock.next_bar_ends_part())
    # a tuplet's first note is too long when the rest of the tuplet, at its length, would not fit
    crowded = clock.open_note and clock.links.tuplet_first and room < m.last * m.tuplet_left
    if room < 0 or crowded:
        return Full(colon_only, _detail(clock, room, strict, tie_ok and not crowded), True) if clock.open_note \
            else Full(colon_only, Detail())
    if room == 0:
        return Full(colon_only, _detail(clock, room, strict, tie_ok))
    # a broken rhythm pairs two plain notes of one tuplet-free stretch (abc2midi lengthens H, shortens .)
    broken_ok = clock.open_note and m.tuplet_left == 0 and clock.measure.tuplet_left == 0 \
        and clock.links.exact is None and room >= m.last and not clock.links.note_decos
    # a part that ends the tune may end short only on the tonic
    ends_tune = short == "completes" and clock.asked.form and clock.form_done_after_delimiter()
    short_ok = short is not None and not (ends_tune and clock.asked.cadence is not None
                                          and clock.links.last_pitch != clock.asked.cadence[0])
    note_ok = room >= m.duration(EIGHTH)   # the next note fits at its shortest (A/8)
    return Part(short_ok, broken_ok, m.tuplet_left > 0, colon_only, gate, note_ok,
                _detail(clock, room, strict, tie_ok))


def _detail(clock: BarClock, room: Fraction | None, strict: bool = False, tie_ok: bool = True) -> Detail:
    """What the symbol just written allows next; `room` is what is left of the bar (None at the
    start of a bar); `strict`: the note being written may not fill the bar (it is not a note the
    bar may end on)."""
    colon = _colon_ok(clock) and (clock.notes == 0 or clock.form_needs() != "plain")
    if clock.after_paren:                 # "(3": a tuplet, never inside another, and only where it fits
        return Detail(digits=_tuplets(clock, room) if clock.measure.tuplet_left == 0 else NO_DIGITS,
                      colon=colon)
    if room is None:                      # just after a bar line: an ending may be numbered
        if clock.repeats.first_ending and clock.repeats.just_closed and clock.prev == "|":
            return Detail(must="2")        # the repeat that closes a first ending goes on to the second
        return Detail(digits=_ending_digits(clock), colon=colon, bracket=clock.prev == "|" != clock.prev2)
    if not clock.open_note:
        return _AFTER_SYMBOL[colon]
    letter = clock.letter
    suffix = clock.suffix()
    octave = ""                           # C, and c' (abc2midi rejects c, and C')
    limit = MAX_OCTAVE_MARKS if clock.links.octave_target is None else clock.links.octave_target
    if letter is not None and not suffix and clock.octave < limit and clock.in_range(clock.octave + 1):
        octave = "," if letter.isupper() else "'"
        if clock.links.octave_target is not None:   # a tied-to note: the same octave as its tie
            return Detail(must=octave)
    tie = letter is not None and tie_ok and not clock.links.note_decos   # abc2midi plays ~ and T as several notes
    if clock.links.exact is not None:           # the suffix is fixed by a broken rhythm
        if suffix == clock.links.exact or not clock.links.exact.startswith(suffix):
            return Detail(octave=octave, tie=tie and room >= 0, colon=colon)
        return Detail(octave=octave, must=clock.links.exact[len(suffix)])
    m, base = clock.now()
    # the multiplier that fills the bar exactly, fits = fn / fd; a tuplet's first note leaves room
    # for the rest of the tuplet, whose notes all take its length (whole numbers, not Fractions:
    # this runs for every character of every tune)
    total = room + m.last
    share = 1 + (m.tuplet_left if clock.links.tuplet_first else 0)
    fn, fd = total.numerator * base.denominator, total.denominator * base.numerator * share

    def ok(p: int, q: int = 1) -> bool:   # the multiplier p/q fits
        return p * fd < q * fn if strict else p * fd <= q * fn

    tie = tie and room >= 0               # an overfull note must be shortened first
    num, slashes, den = _suffix_parts(suffix)
    n = int(num) if num else 1
    if slashes:                           # A/ may go on to A/2, A/4, A/8 or A//, if they fit
        more = slashes == "/" and not den
        digits = frozenset(d for d in HALVING if ok(n, d)) if more else NO_DIGITS
        return Detail(digits=digits, slash=more and ok(n, 4), tie=tie, colon=colon)
    top = fn // fd                        # the longest whole multiplier that fits
    if strict and top * fd == fn:
        top -= 1
    if not num:                           # A1 .. A9 (A10 .. A16 after the 1)
        digits = frozenset(range(1, min(top, 9) + 1))
    elif num == "1":                      # A10 .. A16
        digits = frozenset(range(0, min(top - 10, 6) + 1))
    else:
        digits = NO_DIGITS
    return Detail(digits=digits, slash=ok(n, 8), octave=octave, tie=tie, colon=colon)


# small pure helpers, cached: the clock asks them for every character of every tune
_AFTER_SYMBOL = {True: Detail(colon=True), False: Detail(colon=False)}   # never changed once made


@lru_cache(maxsize=256)
def _suffix_parts(suffix: str) -> tuple[str, str, str]:
    return LENGTH_RE.fullmatch(suffix).groups()


@lru_cache(maxsize=256)
def _suffix_length(suffix: str) -> Fraction | None:
    return length_multiplier(*_suffix_parts(suffix))



def _tuplets(clock: BarClock, room: Fraction | None) -> frozenset:
    """The tuplets ("(2", "(3", "(4") whose notes all fit in the bar at their shortest."""
    if room is None:
        room = clock.bar_length_now() or UNBOUNDED
    shortest = clock.measure.duration(EIGHTH)
    return frozenset(p for p in TUPLETS if room >= p * shortest * tuplet_ratio(f"({p}", clock.measure.meter)[1])


def _ending_digits(clock: BarClock) -> frozenset:
    """An ending may be numbered just after a bar line ("|1", ":|2", "[1"): a second ending right
    after the repeat that closes a first; a first ending where a repeat is open (the tune's start
    counts as open until a repeat closes), never before the first note."""
    if clock.notes or not clock.prev or clock.prev not in "|[" or clock.asked.form or not clock.bars:
        return NO_DIGITS
    if not clock.repeats.first_ending and not clock.section.bars:
        return NO_DIGITS                  # a first ending needs a bar of its repeat before it
    if clock.repeats.first_ending:
        return frozenset({2}) if clock.repeats.just_closed else NO_DIGITS
    opened = (clock.repeats.open and not clock.repeats.reopened) or (clock.repeats.closed == 0 and clock.section.ends == 0)
    return frozenset({1}) if opened and not clock.repeats.ending_open else NO_DIGITS


def _colon_ok(clock: BarClock) -> bool:
    prev, prev2 = clock.prev, clock.prev2
    if clock.tuplet_spec:
        return False                      # "(3:2:3" ratios are not written
    if prev == "|":
        return not clock.open_repeat      # "|:" opens a repeat
    if prev == "]":
        return False
    if prev == ":":
        return prev2 != ":" and prev2 != "|"   # "::", never ":::"
    # ":|" (repeats from the last part), not on the opening pickup, not on a bar with no notes
    pickup = clock.bars == 0 and clock.short_kind() != "full"
    return not pickup and clock.notes > 0 and not clock.repeats.second_ending


def _field_ok(text: str) -> bool:
    letter, _, value = text.partition(":")
    parse = {"K": abc_fields.parse_key, "M": abc_fields.parse_meter, "L": abc_fields.parse_unit,
             "Q": abc_fields.parse_tempo}.get(letter)
    try:
        return parse is not None and bool(value.strip()) and bool(parse(value.strip()))
    except Exception:  # noqa: BLE001 - any error means "not yet a value we read"
        return False


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
DECORATIONS = DECORATION_LETTERS - {"k"}   # "k" is no ABC 2.1 decoration; abc2midi ignores it
DECORATED = NOTE_LETTERS | frozenset("^_=")   # what a decoration precedes: a note, one decoration at a time
                                              # (music21 reads "TLc" or "~Tc" as a note it cannot pitch)


def allows(state: Next, c: str) -> bool:
    """Whether character `c` may come next in a bar clock's `state()`."""
    if (c == "\n" and state.line_start) or (c == ":" and state.field_start) or (c == " " and state.spaced):
        return False
    return _allows(state.policy, c)


def _allows(state, c: str) -> bool:
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
        return c not in "|]:" and not c.isdigit() and _allows(state.bar, c)
    if kind is Tie:
        bar_open = type(state.bar) in (Empty, Part)
        if c == state.letter or c in "()":
            return bar_open               # no decoration on a tied-to note (abc2midi plays ~ as notes)
        return c in " \n|" and _allows(state.bar, c)
    if kind is Broken:                     # slurs may come between (A>(B, (A>)B)
        return (c in NOTE_STARTS or c in "^_=" or c in "()") and _allows(state.bar, c)
    if kind is Decorated:
        if c == "{" and not state.grace_ok:
            return False                   # grace notes need a note between them
        if c == "(":
            return state.paren_ok and _allows(state.bar, c)
        if c.isdigit():                    # a tuplet after grace notes, "{g}(3", not after a decoration
            return state.tuplet_ok and _allows(state.bar, c)   # (abc2midi misreads ".(3", "~(3")
        return c in DECORATED and type(state.bar) in (Empty, Part) and _allows(state.bar, c)
    return _bar_allows(state, c)


def _bar_allows(state: BarState, c: str) -> bool:
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
