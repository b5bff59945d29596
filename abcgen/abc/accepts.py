"""What may come next after a tune state (`abcgen.abc.tune.TuneState`): the grammar a writer is held
to, with the writer's named checks (`abcgen.abc.policy`: form, cadence, range, chords, loops)
asked where they apply.

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
- chords of more than two notes or with a note twice (policy: a fiddler's double stop at most);
- with a key (policy: cadence): the end of the tune unless its last bar lands on the key's tonic
  (the mode's final: A for Ador) on its last strong beat, and, without a requested form, before
  two parts are written;
- with a range: octave marks that leave the instrument's range;
- with a requested form: a plain bar line where a section must end, a section end before its bars
  are written, an ending "|1" (it would join two sections), and the end of the tune before the
  last section; after it, anything but the end. A repeated part must open with "|:" and close
  with ":|". With a key, a part's last bar lands on a note of the tonic chord and the last part's
  on the tonic: in that bar, the note that sounds on the last strong beat must be one of them,
  and any other note may not reach that beat; a note after it is a pickup and free;
- (policy: no loops) the character that would complete a bar written twice running just before,
  or one that already makes up its quarter of the tune, unless the grammar leaves no other way.

`next_state(state)` sums this up as a small hashable value (`abcgen.abc.choices`) and
`allows(state, c)` answers for one character.
"""
from __future__ import annotations

from functools import lru_cache
from fractions import Fraction

from abcgen.abc import header as abc_fields
from abcgen.abc import policy
from abcgen.abc.choices import (ENDS, ESCAPES, FINISH, INLINE_FIELDS, NO_DIGITS, NOTE_LETTERS, NOTE_TEXT, BarState,
                                Broken, Decorated, Detail, Empty, Full, Group, InlineField, Next, Only, Part, Plain,
                                Tie, allows, permits)
from abcgen.abc.policy import MAX_CHORD_NOTES, MAX_GROUP_NOTES
from abcgen.abc.reader import LENGTH_RE, length_multiplier, tuplet_ratio
from abcgen.abc.tune import TuneState

__all__ = ["allows", "next_state"]     # what a writer needs; the values are in abcgen.abc.choices
MAX_OCTAVE_MARKS = 2
TUPLETS = frozenset({2, 3, 4})
HALVING = frozenset({2, 4, 8})          # A/2, A/4, A/8: denominators abc2midi reads
UNBOUNDED = Fraction(10 ** 9)           # room left in a bar of free meter
ONE, EIGHTH = Fraction(1), Fraction(1, 8)
NO_LOOPS: frozenset = frozenset()



# ----------------------------------------------------------------------------------------
# from a tune state to what may come next

def next_state(clock: TuneState) -> Next:
    """What may come next: a small hashable value, so a sampler keeps one mask per value."""
    prev, prev2 = clock.prev, clock.prev2
    line_start = prev in ("", "\n")
    bar = _policy(clock)
    loops = policy.loop_chars(clock) if clock.looping else NO_LOOPS
    if loops and not any(permits(bar, c) for c in ESCAPES - loops):
        loops = frozenset()        # the grammar leaves no other way on: the policy gives way
    return Next(bar, line_start, prev.isalpha() and prev2 in ("", "\n"), line_start or prev == " ", loops)


def _policy(clock: TuneState):
    if clock.group:
        return _group_state(clock)
    prev, prev2 = clock.prev, clock.prev2
    if clock.ended or (policy.form_done(clock) and not clock.need_delim and prev not in ":"):
        return FINISH                     # "|]" was written, or the requested sections are
    if clock.need_delim:                  # no "|:" that opens a repeat at the very end
        ends_tune = policy.form_done_after_delimiter(clock)
        may_end = not clock.open_repeat and (not clock.asked.form or ends_tune) and _may_end(clock)
        colon_ok = not clock.open_repeat and (clock.asked.sections is None or not ends_tune)
        double_ok = not clock.open_repeat and not (clock.asked.form and ends_tune)
        # the "|" just written closes a part: make it "|:", "||" or "|]", or end the tune
        return Only(frozenset(":" * colon_ok + "|" * double_ok) | (ENDS if may_end else frozenset()))
    if policy.part_repeats(clock) and not clock.repeats.open and not clock.section.has_notes and not clock.notes:
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


def _tie_or_bar(clock: TuneState):
    """A tie that waits for its note, else the bar's state."""
    bar = _bar_state(clock)
    return Tie(clock.links.tie_letter, bar) if clock.links.tie_letter and not clock.open_note else bar


def _may_end(clock: TuneState) -> bool:
    """No repeat or first ending left open, and the cadence and parts allow it."""
    return not clock.repeats.ending_open and policy.final_ok(clock)


def _group_state(clock: TuneState):
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


def _bar_state(clock: TuneState) -> BarState:
    length = policy.bar_length_now(clock)
    m, _ = clock.now()
    room = UNBOUNDED if length is None else length - m.length
    cadence = policy.cadence_letters(clock)
    beat = None if cadence is None else policy.cadence_beat(clock.measure.meter, length)
    # the notes that may come next when the next note, at its plain (or fixed) length, sounds on
    # the bar's cadence beat
    fixed = clock.links.broken_suffix if clock.links.broken_suffix is not None else clock.links.tuplet_suffix
    plain = _suffix_length(fixed) if fixed else None
    gate = cadence if beat is not None and 0 <= beat - m.length < m.duration(plain or ONE) else None
    if clock.notes == 0:
        end_ok = clock.closing and clock.bars > 0 and not clock.open_repeat and \
            (clock.asked.sections is None or policy.form_done(clock)) and _may_end(clock)
        # under a form, bar lines only at a section's edges (no empty bars inside it)
        # no "||" inside a repeat, no "|||", no "|:|"
        lines_ok = (not clock.asked.form or (not clock.section.has_notes and clock.blank)) \
            and not (clock.prev == "|" and (clock.open_repeat or clock.prev2 == "|")) \
            and not (clock.prev == ":" and clock.prev2 == "|")
        return Empty(end_ok, lines_ok, gate, _detail(clock, None))
    # closing this bar must be ":|" when it ends a part inside an open or requested repeat
    short = clock.short_kind()
    delimiter = (clock.asked.form and policy.last_bar_of_part(clock)) or short == "completes"
    colon_only = delimiter and (clock.open_repeat or policy.part_repeats(clock))
    # a note the bar may not land on may not reach its cadence beat
    cap = None
    if beat is not None and clock.open_note and clock.links.last_pitch not in cadence \
            and m.length - m.last <= beat:
        cap = beat - (m.length - m.last)
    # no tie into the next part (or past the end), nor into a part's last bar, whose last note is its
    # cadence
    tie_ok = not delimiter and not (clock.asked.cadence is not None and policy.next_bar_ends_part(clock))
    # a tuplet's first note is too long when the rest of the tuplet, at its length, would not fit
    crowded = clock.open_note and clock.links.tuplet_first and room < m.last * m.tuplet_left
    if room < 0 or crowded:
        return Full(colon_only, _detail(clock, room, cap, tie_ok and not crowded), True) if clock.open_note \
            else Full(colon_only, Detail())
    if room == 0:
        return Full(colon_only, _detail(clock, room, cap, tie_ok))
    # a broken rhythm pairs two plain notes of one tuplet-free stretch (abc2midi lengthens H, shortens .)
    # ... and may not carry a note the bar may not land on across its cadence beat (A>B lengthens A)
    broken_ok = clock.open_note and m.tuplet_left == 0 and clock.measure.tuplet_left == 0 \
        and clock.links.exact is None and room >= m.last and not clock.links.note_decos \
        and (cap is None or m.last * 3 / 2 <= cap)
    # a part's last bar that ends short (completing its pickup) lands where a full one would: on
    # the tonic chord, the tune's last on the tonic
    short_ok = short is not None and not (short == "completes" and cadence is not None
                                          and clock.landing_now() not in cadence)
    note_ok = room >= m.duration(EIGHTH)   # the next note fits at its shortest (A/8)
    return Part(short_ok, broken_ok, m.tuplet_left > 0, colon_only, gate, note_ok,
                _detail(clock, room, cap, tie_ok))


def _detail(clock: TuneState, room: Fraction | None, cap: Fraction | None = None, tie_ok: bool = True) -> Detail:
    """What the symbol just written allows next; `room` is what is left of the bar (None at the
    start of a bar); `cap`: the longest the note being written may be (it is not a note the bar
    may land on, and may not sound on its cadence beat)."""
    colon = _colon_ok(clock) and (clock.notes == 0 or policy.form_needs(clock) != "plain")
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
    if letter is not None and not suffix and clock.octave < limit and policy.in_range(clock, clock.octave + 1):
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
    total = room + m.last if cap is None else min(room + m.last, cap)
    share = 1 + (m.tuplet_left if clock.links.tuplet_first else 0)
    fn, fd = total.numerator * base.denominator, total.denominator * base.numerator * share

    def ok(p: int, q: int = 1) -> bool:   # the multiplier p/q fits
        return p * fd <= q * fn

    tie = tie and room >= 0               # an overfull note must be shortened first
    num, slashes, den = _suffix_parts(suffix)
    n = int(num) if num else 1
    if slashes:                           # A/ may go on to A/2, A/4, A/8 or A//, if they fit
        more = slashes == "/" and not den
        digits = frozenset(d for d in HALVING if ok(n, d)) if more else NO_DIGITS
        return Detail(digits=digits, slash=more and ok(n, 4), tie=tie, colon=colon)
    top = fn // fd                        # the longest whole multiplier that fits
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



def _tuplets(clock: TuneState, room: Fraction | None) -> frozenset:
    """The tuplets ("(2", "(3", "(4") whose notes all fit in the bar at their shortest."""
    if room is None:
        room = policy.bar_length_now(clock) or UNBOUNDED
    shortest = clock.measure.duration(EIGHTH)
    return frozenset(p for p in TUPLETS if room >= p * shortest * tuplet_ratio(f"({p}", clock.measure.meter)[1])


def _ending_digits(clock: TuneState) -> frozenset:
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


def _colon_ok(clock: TuneState) -> bool:
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
