"""Follow a tune body as the model writes it, one character at a time, so the sampler can forbid
the next characters that would break the tune for music21 or abc2midi.

What it forbids, and why:
- inside an unclosed group (a chord [CEG], grace notes {g}, or, typed in an opening, an inline
  field [K:G], a chord symbol "Am" or a decoration !trill!) a line break, bar line or the end;
  inside a chord or grace group only notes may follow; a new inline field, chord symbol or
  !decoration! (the model loses its way inside them);
- a note, or a longer note length, that would overfill the bar: a full bar must be closed;
- a bar line that closes a bar short, except for the pickups musicians write: the tune's first
  bar, a part's first bar after a double bar or repeat, and a part's last bar when it completes
  the pickup (then it must end with a double bar or repeat, not a plain "|");
- note lengths abc2midi cannot read (A/3, A//2, stray "/" or digits), more than two octave marks;
- a tie that leads to a rest or another pitch, a decoration that leads to no note, a broken rhythm
  (A>B) between notes of different written lengths;
- a repeat that opens while another is open, an ending other than "|1" or ":|2";
- the end of the tune anywhere but just after a closing bar line, or with a repeat left open;
  a final bar line "|]" anywhere but at the end, and "||" or "|]" inside an open repeat (both
  would make the tune play ABAB where AABB was written);
- chords of more than two notes or with a note twice (a fiddler's double stop at most);
- with a key (`key=`): the end of the tune unless its last note is the key's tonic (the mode's
  final: A for Ador), and, without a requested form, before two parts are written;
- with a range (`low=`, `high=`): octave marks that leave the instrument's range;
- with a requested form (sections, bars per section): a plain bar line where a section must end,
  a section end (double bar or repeat) before its bars are written, an ending "|1" (it would join
  two sections), and the end of the tune before the last section; after it, anything but the end.
  Bars are counted as the form codes count them (`abcgen.form`): a pickup bar counts as a bar,
  unless the form is a musician's (`full_bars`): then a part has that many full bars, a pickup
  comes on top and the part's last bar is shortened by it. A repeated part (`repeats`) must open
  with "|:" and close with ":|". With a key, a part's last bar ends on a note of the tonic chord
  and the last part's on the tonic: in that bar, a note that would fill the bar must be one of
  them, and any other note may not be long enough to fill it.

Durations are counted in units of L as floats: they are sums of halves, thirds and the like, and a
small tolerance absorbs the rounding. The rules guide sampling; the validator in `abcgen.abc` has
the last word.
"""
from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

from abcgen import abc_fields as abcfields
from abcgen import abc_reader as abcreader
from abcgen.vocab import END

EPS = 1e-6
NOTE_LETTERS = frozenset("ABCDEFGabcdefg")
NOTE_STARTS = NOTE_LETTERS | frozenset("zx")
COMPOUND_TOPS = (6, 9, 12)
MAX_OCTAVE_MARKS = 2
MAX_GROUP_NOTES = 4                     # notes in a group of grace notes
MAX_CHORD_NOTES = 2                     # a double stop
STEPS = "CDEFGAB"


def pitch_index(note: str) -> int:
    """Diatonic steps from C0 of an ABC pitch ("G," -> 25, "c" -> 35, "e'" -> 44)."""
    letter = note[0]
    octave = (4 if letter.isupper() else 5) - note.count(",") + note.count("'")
    return octave * 7 + STEPS.index(letter.upper())


def tonic_letters(key: str | None) -> tuple[str, frozenset] | None:
    """(the mode's final, the letters of its tonic triad) for a canonical K: value, or None
    (no key, a Highland pipes or free key)."""
    if not key or not key[0] in STEPS:
        return None
    i = STEPS.index(key[0])
    return key[0], frozenset(STEPS[(i + k) % 7] for k in (0, 2, 4))
TUPLETS = frozenset({2, 3, 4})
NO_DIGITS: frozenset = frozenset()
HALVING = frozenset({2, 4, 8})          # A/2, A/4, A/8: denominators abc2midi reads


class Detail(NamedTuple):
    """What the note being written (or the symbol before) allows next."""
    digits: frozenset = NO_DIGITS      # digits that may come next
    slash: bool = False                # "/" may come next
    octave: str = ""                   # the octave marks that may come next ("," after C-B only)
    tie: bool = False                  # "-" may come next
    colon: bool = True                 # ":" may come next (as part of a repeat sign)
    must: str | None = None            # the one character that must come next, if any
    bracket: bool = False              # "]" may come next (as in "|]")


def _multiplier(num: str, slashes: int, den: str) -> float:
    """A length suffix as a multiplier of L: A2 -> 2, A/ -> 1/2, A3/2 -> 3/2, A// -> 1/4."""
    n = int(num) if num else 1
    if not slashes:
        return float(n)
    d = int(den) * 2 ** (slashes - 1) if den else 2 ** slashes
    return n / d if d else float(n)


class BarClock:
    """Where the writer is in the current bar, what it has left open, and so what may come next."""

    def __init__(self, meter: str = "4/4", unit: str = "1/8", sections: int | None = None,
                 bars: list[int | None] = (), repeats: tuple[bool, ...] = (), full_bars: bool = False,
                 key: str | None = None, low: str | None = None, high: str | None = None):
        self.unit = Fraction(unit)
        self.meter = meter
        self.bar_len = self._bar_length(meter)  # units of L per bar; None for a free meter
        self.used = 0.0          # units written in the current bar, the last note as written so far
        self.notes = 0           # notes and rests in the current bar
        self.bars = 0            # bars closed that held notes
        self.pickup = 0.0        # length of the tune's opening pickup bar, 0 when it has none
        self.part_pickup = 0.0   # the same for the current part
        self.last_bar = 0.0      # length of the bar before this one
        self.left_delim = False  # this bar follows a double bar or a repeat
        self.need_delim = False  # a short bar closing a part just got its "|": make it "||", "|]", "|:"
        self.closing = False     # the last symbol written is a bar line that can end the tune
        self.group: str | None = None
        self.group_text = ""     # what an open chord, grace group or inline field holds so far
        self.prev = self.prev2 = ""
        # the note being written: what one L of it is worth, its pitch letter and its suffix so far
        self.open_note = False
        self.letter: str | None = None
        self.octave = 0
        self.base = 1.0
        self.num, self.slashes, self.den = "", 0, ""
        self.last_len: float | None = None
        self.exact: str | None = None     # the suffix this note must have (after a broken rhythm)
        self.broken = 1.0                 # factor for the next note after > or <
        self.broken_suffix: str | None = None
        self.tie_letter: str | None = None  # a tie waits for this note
        self.tie_octave = 0                 # ... written with this many octave marks
        self.octave_target: int | None = None  # a tied-to note must repeat the marks
        self.broken_next = False          # a broken rhythm waits for its second note
        self.deco = False                 # a decoration waits for its note
        self.tuplet_left, self.tuplet_factor = 0, 1.0
        self.tuplet_spec = False          # inside "(3:2:3"
        self.after_paren = False
        self.repeat_open = False          # a "|:" waits for its ":|"
        self.repeats_closed = 0
        # the requested form, and where the writer is in it
        self.form_sections, self.form_bars = sections, list(bars)
        self.form = sections is not None or any(b is not None for b in self.form_bars)
        self.sections_done = 0
        self.section_lines = 0            # plain bar lines since the section's first note
        self.section_notes = False
        self.plain_pending = False        # a plain "|" that a next "|", "]" or ":" makes a delimiter
        self.need_plain = False           # the section goes on: the "|" just written must stay plain
        self.blank = True                 # only bar lines and spaces since the last bar line
        self.just_closed = False          # a repeat just closed and no note came since
        self.first_ending = False         # a first ending waits for its second
        self.form_repeats, self.full_bars = tuple(repeats), full_bars
        self.section_pickup = False       # the current section opened with a short bar
        # cadences and range
        self.cadence = tonic_letters(key)
        self.last_pitch: str | None = None   # letter of the last note ("" for a rest, a chord or an accidental)
        self.low = pitch_index(low) if low else None
        self.high = pitch_index(high) if high else None
        self.ended = False                # "|]" was written: only the end may follow

    def _bar_length(self, meter: str) -> float | None:
        length = abcfields.meter_length(meter)
        return None if length is None else float(length / self.unit)

    # -- reading -------------------------------------------------------------------------------

    def feed_text(self, text: str) -> "BarClock":
        for c in text:
            self.feed(c)
        return self

    def feed(self, c: str) -> None:
        prev, prev2 = self.prev, self.prev2
        self.prev, self.prev2 = c, prev
        self.need_delim = self.need_plain = False
        if self.plain_pending and prev == "|" and c in "|]:":
            self.section_lines -= 1           # "||", "|]", "|:": a delimiter after all
            self._end_section()
        self.plain_pending = False
        if c not in " \n|:]":
            self.blank = False
        if self.group:
            self._feed_group(c)
            return
        if c.isdigit():
            if prev == "|" and self.notes == 0:
                self._ending(c)
            self._digit(c)
            return
        self.after_paren = False
        if c != ":" or not self.tuplet_spec:
            self.tuplet_spec = False
        if c in NOTE_STARTS:
            self._start_note(1.0, c)
        elif c == "/" and self.open_note:
            self.slashes += 1
            self._relength()
        elif c in "<>":
            self._broken(c)
        elif c in ",'" and self.open_note:
            self.octave += 1
        elif c == "|":
            self._bar_line(after_colon=prev == ":")
        elif c == "]" and self.closing:
            self.left_delim = self.ended = True  # "|]"
        else:
            if c == "-" and self.open_note:
                self.tie_letter, self.tie_octave = self.letter, self.octave
            self.open_note = False
            if c == ":":
                self._colon(prev, prev2)
            elif c in "ZX":                      # a multi-bar rest fills its bar
                self.used, self.notes = self.bar_len or 0.0, self.notes + 1
            elif c == "(":
                self.after_paren = True
            elif c in ".~" or (c.isalpha() and c in abcreader.DECORATION_LETTERS):
                self.deco = True
            elif c in '"!{[':
                self.group = {'"': "quote", "!": "decoration", "{": "grace", "[": "bracket"}[c]
                self.group_text = ""
            if c not in " \n":
                self.closing = False             # "|:" cannot end a tune; ":|" ends on its "|"

    def _feed_group(self, c: str) -> None:
        g = self.group
        if g == "quote":
            self.group = None if c == '"' else g
        elif g == "decoration":
            self.group = None if c == "!" else g
        elif g == "grace":
            if c == "}":
                self.group, self.deco = None, True     # grace notes lead to a note
            self.group_text += c
        elif g == "bracket":                  # just after "[": a chord, an inline field, "[|" or "[1"
            if c == "|":
                self.group = None
                self._bar_line(after_colon=True)   # "[|" ends a section like ":|"
            elif c.isdigit():
                self.group = None             # an ending "[1"
                self._ending(c)
            elif c.isalpha() and c not in NOTE_LETTERS:
                self.group, self.group_text = "field_name", c
            else:
                self.group, self.group_text = "chord", c
                if c == "]":
                    self._close_chord()
        elif g == "field_name":               # "[K" so far: a field if ":" follows, else a chord
            if c == ":":
                self.group, self.group_text = "field", self.group_text + ":"
            else:
                self.group, self.group_text = "chord", self.group_text + c
                if c == "]":
                    self._close_chord()
        elif g == "field":
            if c == "]":
                self.group = None
                self._inline_field(self.group_text)
            else:
                self.group_text += c
        elif g == "chord":
            if c == "]":
                self._close_chord()
            else:
                self.group_text += c

    # -- musical events ------------------------------------------------------------------------

    def _digit(self, c: str) -> None:
        if self.after_paren:                  # "(3": a tuplet
            self.after_paren = False
            self.tuplet_spec = True
            p = int(c)
            top = int(self.meter.split("/")[0].split("+")[0]) if self.meter[:1].isdigit() else 4
            q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if top in COMPOUND_TOPS else 2)
            if p >= 2:
                self.tuplet_left, self.tuplet_factor = p, q / p
        elif self.tuplet_spec:
            pass                              # "(3:2:3"
        elif self.open_note:
            if self.slashes:
                self.den += c
            else:
                self.num += c
            self._relength()
        self.closing = False

    def _start_note(self, inner: float, letter: str | None) -> None:
        factor = self.broken * inner
        self.exact, self.broken_suffix = self.broken_suffix, None
        self.broken = 1.0
        if self.tuplet_left > 0:
            factor *= self.tuplet_factor
            self.tuplet_left -= 1
        self.open_note, self.base = True, factor
        self.letter = letter if letter in NOTE_LETTERS else None
        self.last_pitch = "" if self.letter is None or self.prev2 in "^_=" else self.letter.upper()
        self.octave = 0
        self.num, self.slashes, self.den = "", 0, ""
        self.last_len = factor
        self.used += factor
        self.notes += 1
        self.section_notes = True
        self.closing = self.deco = self.just_closed = self.broken_next = False
        self.octave_target = self.tie_octave if self.tie_letter else None
        self.tie_letter = None

    def _relength(self) -> None:
        new = self.base * _multiplier(self.num, self.slashes, self.den)
        self.used += new - self.last_len
        self.last_len = new

    def _suffix(self) -> str:
        return self.num + "/" * self.slashes + self.den

    def _broken(self, c: str) -> None:
        """A>B: A dotted, B halved (A<B the other way round); the pair keeps its total length,
        and B is written with A's length, as abc2midi requires."""
        if self.open_note and self.last_len is not None:
            self.broken_suffix = self._suffix()
            self.broken_next = True
            self.used += self.last_len / 2 if c == ">" else -self.last_len / 2
            self.broken = 0.5 if c == ">" else 1.5
        self.open_note = False
        self.closing = False

    def _close_chord(self) -> None:
        """A chord lasts as long as its first note (times the length after the "]")."""
        self.group = None
        inner = abcreader.NOTE_RE.search(self.group_text)
        mult = abcreader.length_multiplier(*inner.group(4, 5, 6)) if inner else None
        self._start_note(float(mult) if mult else 1.0, None)

    def _ending(self, c: str) -> None:
        self.first_ending = c == "1"

    def _colon(self, prev: str, prev2: str) -> None:
        if self.tuplet_spec:
            return
        if prev == "|" or (prev == ":" and prev2 != "|"):   # "|:" or the second colon of "::"
            self.repeat_open = True
        elif prev != ":":                                   # ":|" or the first colon of "::"
            self.repeat_open = False
            self.repeats_closed += 1
            self.just_closed = True

    def _bar_line(self, after_colon: bool = False) -> None:
        """A "|" (`after_colon`: the end of ":|", which always ends a section)."""
        self.open_note = False
        if self.notes:
            need = self._form_needs()
            if after_colon:
                self._end_section()
            elif self.section_notes:
                self.section_lines += 1
                self.plain_pending = True
                self.need_delim = need == "delimiter"
                self.need_plain = need == "plain"
            kind = self._short_kind()
            if kind in ("pickup", "part pickup") and self.section_lines <= 1 and not after_colon:
                self.section_pickup = True
            if kind == "pickup":
                self.pickup = self.part_pickup = self.used
            elif kind == "part pickup":
                self.part_pickup = self.used
            elif kind == "completes":
                self.need_delim = self.need_delim or not after_colon
            self.bars += 1
            self.last_bar = self.used
            self.left_delim = after_colon
        else:
            self.left_delim = self.left_delim or self.bars > 0   # "||"
        self.used, self.notes = 0.0, 0
        self.closing = self.blank = True
        self.tuplet_left = 0
        self.deco = False

    def _end_section(self) -> None:
        if self.section_notes:
            self.sections_done += 1
        self.section_lines, self.section_notes, self.section_pickup = 0, False, False

    def _form_needs(self) -> str | None:
        """What the bar line closing the current bar must be under the requested form: a
        "delimiter" (the section has its bars), "plain" (it has not), or None (free)."""
        if not self.form:
            return None
        k = self.sections_done
        bars = self.form_bars[k] if k < len(self.form_bars) else None
        if bars is None:
            return None
        bars += self.full_bars and self.section_pickup     # a pickup is on top of the full bars
        return "delimiter" if self.section_lines + 1 >= bars else "plain"

    def _part_repeats(self) -> bool:
        """Whether the current section of the requested form is written |: ... :|."""
        k = self.sections_done
        return k < len(self.form_repeats) and self.form_repeats[k]

    def _last_bar(self) -> bool:
        return self._form_needs() == "delimiter"

    def _bar_length_now(self) -> float | None:
        """The current bar's length; a musician's part that opened with a pickup ends with a bar
        that much shorter."""
        if self.bar_len is not None and self.full_bars and self.section_pickup and self._last_bar():
            return self.bar_len - self.part_pickup
        return self.bar_len

    def _final_ok(self) -> bool:
        """The tune may end here as far as its cadence and parts go."""
        if self.cadence is None:
            return True
        parts = self.sections_done + (1 if self.section_notes else 0)
        return self.last_pitch == self.cadence[0] and (self.form or parts >= 2)

    def _cadence_letters(self) -> frozenset | None:
        """The notes that may end the current bar, when it ends a part under a requested form."""
        if self.cadence is None or not self.form or not self._last_bar():
            return None
        last = self.form_sections is not None and self.sections_done + 1 >= self.form_sections
        return frozenset(self.cadence[0]) if last else self.cadence[1]

    def _form_done_after_delimiter(self) -> bool:
        """Whether the delimiter being written ends the last requested section."""
        return self.form_sections is None or self.sections_done + 1 >= self.form_sections

    def _form_done(self) -> bool:
        return self.form_sections is not None and self.sections_done >= self.form_sections

    def _short_kind(self) -> str | None:
        """Which pickup the current bar may be if it closed now: "full" when it is not short."""
        if self.bar_len is None or self.used >= self.bar_len - EPS:
            return "full"
        if self.bars == 0:
            return "pickup"
        if self.left_delim and abs(self.used + self.last_bar - self.bar_len) <= EPS:
            return "part pickup"             # completes the short bar that ended the last part
        room = self.bar_len - self.used
        if any(p > 0 and abs(room - p) <= EPS for p in (self.pickup, self.part_pickup)) \
                and self._form_needs() != "plain":
            return "completes"
        return None

    @staticmethod
    def _field_ok(text: str) -> bool:
        letter, _, value = text.partition(":")
        parse = {"K": abcfields.parse_key, "M": abcfields.parse_meter, "L": abcfields.parse_unit,
                 "Q": abcfields.parse_tempo}.get(letter)
        try:
            return parse is not None and bool(value.strip()) and bool(parse(value.strip()))
        except Exception:  # noqa: BLE001 - any error means "not yet a value we read"
            return False

    def _inline_field(self, text: str) -> None:
        letter, _, value = text.partition(":")
        try:
            if letter == "M":
                self.meter = abcfields.parse_meter(value.strip())
            elif letter == "L":
                self.unit = Fraction(abcfields.parse_unit(value.strip()))
            else:
                return
        except Exception:  # noqa: BLE001 - a bad inline field is the validator's to report
            return
        self.bar_len = self._bar_length(self.meter)

    # -- what may come next --------------------------------------------------------------------

    def state(self) -> "Next":
        """What may come next: the bar's rules and the line's (see `Next`); hashable, so the sampler
        caches one mask per value."""
        prev, prev2 = self.prev, self.prev2
        line_start = prev in ("", "\n")
        return Next(self._policy(), line_start, prev.isalpha() and prev2 in ("", "\n"),
                    line_start or prev == " ")

    def _policy(self) -> tuple:
        """A small hashable key saying what may come next (the sampler caches one mask per key).

        ("group", name, closable, ...) inside an open group; ("finish",) after "|]" or the last
        requested part; ("delim", ...) when a bar line just written must become a section end;
        ("open", ...) where a repeated part must open with "|:"; ("tie", letter, state) and
        ("deco", state) when a tie or decoration waits for its note; otherwise (kind, ..., Detail)
        with kind "over" (the note being written overfills the bar and must be shortened; colon_only),
        "full" (close the bar; colon_only), "empty" (a bar just began; end_ok, lines_ok, gate) or
        "part" (a bar with room; short_ok, broken_ok, tuplet_open, colon_only, gate). colon_only:
        the bar ends a repeated part, so it closes with ":|"; gate: the letters the next note must
        have if it fills the bar (a part's cadence)."""
        if self.group:
            name = self.group
            if name == "bracket":             # "[1", "[2": endings, where they may be
                return ("group", name, self._ending_digits())
            if name == "field":               # close it only once its value is one we read
                return ("group", name, self._field_ok(self.group_text))
            # closable once it holds a note; octave marks only after a letter of the right case
            # (at most two); at most MAX_GROUP_NOTES notes
            text = self.group_text
            last = text[-1:]
            marks = len(text) - len(text.rstrip(",'"))
            case = "" if marks >= MAX_OCTAVE_MARKS else "," if last.isupper() else "'" if last.islower() else ""
            notes = sum(c in NOTE_LETTERS for c in text)
            if name == "chord":               # a double stop: two different notes at most
                used = frozenset(c for c in text if c in NOTE_LETTERS)
                return ("group", name, notes > 0 and last not in "^_=", case, notes < MAX_CHORD_NOTES, used)
            return ("group", name, notes > 0 and last not in "^_=", case, notes < MAX_GROUP_NOTES, NO_DIGITS)
        if self.ended or (self._form_done() and not self.need_delim and self.prev not in ":"):
            return ("finish",)                # "|]" was written, or the requested sections are
        if self.need_delim:                   # no "|:" that opens a repeat at the very end
            ends_tune = self._form_done_after_delimiter()
            may_end = not self.repeat_open and (not self.form or ends_tune) and self._final_ok()
            return ("delim", not self.repeat_open and (self.form_sections is None or not ends_tune),
                    may_end, not self.repeat_open and not (self.form and ends_tune))
        if self._part_repeats() and not self.repeat_open and not self.section_notes and not self.notes:
            # a repeated part opens with "|:" (":|:" right after the last part's ":|" will do)
            return ("open", self.prev == "|", self.prev != "|" or self.prev2 == ":")
        if self.need_plain:
            return ("plain", self._bar_state())
        if self.prev == ":" and not self.tuplet_spec and self.prev2 not in "|:":
            return ("colon",)                 # ":|" goes on
        if self.prev in "^_=" and self.prev:
            return ("accidental", self.prev if self.prev2 != self.prev and self.prev != "=" else "")
        if self.broken_next:
            return ("broken", self._bar_state())
        if self.tie_letter and not self.open_note:
            return ("tie", self.tie_letter, self._bar_state())
        if self.deco:
            return ("deco", self._bar_state(), self.prev != "}", self.prev in ".~")
        return self._bar_state()

    def _bar_state(self) -> tuple:
        length = self._bar_length_now()
        room = float("inf") if length is None else length - self.used
        cadence = self._cadence_letters()
        upcoming = self.broken * (self.tuplet_factor if self.tuplet_left else 1.0)
        # the notes that may come next when the next note, at its plain length, fills the bar
        gate = cadence if cadence is not None and room <= upcoming + EPS else None
        if self.notes == 0:
            end_ok = self.closing and self.bars > 0 and not self.repeat_open and \
                (self.form_sections is None or self._form_done()) and self._final_ok()
            # under a form, bar lines only at a section's edges (no empty bars inside it)
            lines_ok = (not self.form or (not self.section_notes and self.blank)) \
                and not (self.prev == "|" and self.repeat_open)     # no "||" inside a repeat
            return ("empty", end_ok, lines_ok, gate, self._detail(None))
        # closing this bar must be ":|" when it ends a part inside an open or requested repeat
        short = self._short_kind()
        delimiter = (self.form and self._last_bar()) or short == "completes"
        colon_only = delimiter and (self.repeat_open or self._part_repeats())
        strict = cadence is not None and self.last_pitch not in cadence
        if room < -EPS:
            return ("over", colon_only, self._detail(room, strict)) if self.open_note else ("full", colon_only, Detail())
        if room <= EPS:
            return ("full", colon_only, self._detail(room, strict))
        broken_ok = self.open_note and self.tuplet_left == 0 and self.exact is None \
            and room + EPS >= self.last_len
        return ("part", short is not None, broken_ok, self.tuplet_left > 0, colon_only, gate,
                self._detail(room, strict))

    def _detail(self, room: float | None, strict: bool = False) -> Detail:
        """What the symbol just written allows next; `room` is what is left of the bar (None at
        the start of a bar); `strict`: the note being written may not fill the bar (it is not a
        note the bar may end on)."""
        colon = self._colon_ok() and (self.notes == 0 or self._form_needs() != "plain")
        if self.after_paren:                 # "(3": a tuplet, never inside another
            return Detail(digits=TUPLETS if self.tuplet_left == 0 else NO_DIGITS, colon=colon)
        if room is None:                     # just after a bar line: an ending may be numbered
            return Detail(digits=self._ending_digits(), colon=colon, bracket=self.prev == "|")
        if not self.open_note:
            return Detail(colon=colon)
        octave = ""                          # C, and c' (abc2midi rejects c, and C')
        limit = MAX_OCTAVE_MARKS if self.octave_target is None else self.octave_target
        if self.letter is not None and not self._suffix() and self.octave < limit \
                and self._in_range(self.octave + 1):
            octave = "," if self.letter.isupper() else "'"
            if self.octave_target is not None:  # a tied-to note: the same octave as its tie
                return Detail(must=octave)
        tie = self.letter is not None
        if self.exact is not None:           # the suffix is fixed by a broken rhythm
            done = self._suffix()
            if done == self.exact or not self.exact.startswith(done):
                return Detail(octave=octave, tie=tie, colon=colon)
            return Detail(octave=octave, must=self.exact[len(done)])
        if room == float("inf"):
            fits = 99.0
        else:                                # the longest multiplier that still fits the bar
            fits = (room + self.last_len) / self.base + (-1e-3 if strict else EPS)
        tie = tie and room > -EPS            # an overfull note must be shortened first
        n = int(self.num) if self.num else 1
        if self.slashes:                     # A/ may go on to A/2, A/4, A/8 or A//, if they fit
            more = self.slashes == 1 and not self.den
            digits = frozenset(d for d in HALVING if n / d <= fits) if more else NO_DIGITS
            return Detail(digits=digits, slash=more and n / 4 <= fits, tie=tie, colon=colon)
        if not self.num:
            digits = frozenset(d for d in range(2, 10) if d <= fits)
        elif self.num == "1":
            digits = frozenset(d for d in range(0, 7) if 10 + d <= fits)
        else:
            digits = NO_DIGITS
        return Detail(digits=digits, slash=n / 8 <= fits, octave=octave, tie=tie, colon=colon)

    def _in_range(self, marks: int) -> bool:
        """Whether the note being written, with `marks` octave marks, stays in the range."""
        step = 7 * marks
        if self.letter.isupper():
            return self.low is None or pitch_index(self.letter) - step >= self.low
        return self.high is None or pitch_index(self.letter) + step <= self.high

    def _ending_digits(self) -> frozenset:
        """An ending may be numbered just after a bar line ("|1", ":|2", "[1"): a second ending
        right after the repeat that closes a first; a first ending where a repeat is open (the
        tune's start counts as open until a repeat closes)."""
        if self.notes or self.prev not in "|[" or self.form:
            return NO_DIGITS
        if self.first_ending:
            return frozenset({2}) if self.just_closed else NO_DIGITS
        return frozenset({1}) if self.repeat_open or self.repeats_closed == 0 else NO_DIGITS

    def _colon_ok(self) -> bool:
        if self.tuplet_spec:
            return True
        if self.prev == "|":
            return not self.repeat_open                # "|:" opens a repeat
        if self.prev == "]":
            return False
        if self.prev == ":":
            return self.prev2 != ":" and self.prev2 != "|"   # "::", never ":::"
        return True                                          # ":|" (repeats from the last part)


# Inside an unclosed group a line break, a bar line or the end of the tune would break the tune for
# every ABC reader; inside a chord or grace group only notes may follow. Each rule says what is
# allowed; `closable` says whether the group holds a note yet.
NOTE_TEXT = frozenset("ABCDEFGabcdefg^_=,'0123456789/")
INLINE_FIELDS = frozenset()  # the model may not change key or meter mid-tune: it loses its way there
GROUP_RULES = {
    "bracket": lambda c, endings: c in NOTE_TEXT and not c.isdigit() and c not in ",'/"  # a chord
    or c in INLINE_FIELDS or c == "|" or (c.isdigit() and int(c) in endings),     # a field, [| or [1
    "chord": lambda c, closable: c in "^_=ABCDEFGabcdefg" or (c == "]" and closable),
    "grace": lambda c, closable: c in "^_=ABCDEFGabcdefg" or (c == "}" and closable),
    "field_name": lambda c, closable: c == ":",                # "[K" so far
    "field": lambda c, closable: c not in "\n|[]" or (c == "]" and closable),
    "quote": lambda c, closable: c not in "\n|",
    "decoration": lambda c, closable: c not in "\n| ",
}
FULL_OK = frozenset("|: )")        # a full bar: close it (a slur may end first)
DECORATED = NOTE_STARTS | frozenset("^_=.~") | abcreader.DECORATION_LETTERS   # what a decoration precedes


class Next(NamedTuple):
    """A bar clock's `state()`: the bar's rules, and the line's: no blank line in the body (it
    would end the tune for every ABC reader), no header-field line (a letter then ":" at a line
    start) and one space at a time, none to open a line."""
    policy: tuple
    line_start: bool
    field_start: bool
    spaced: bool


def allows(state: Next, c: str) -> bool:
    """Whether character `c` may come next in a bar clock's `state()`."""
    if (c == "\n" and state.line_start) or (c == ":" and state.field_start) or (c == " " and state.spaced):
        return False
    return _allows(state.policy, c)


def _allows(state: tuple, c: str) -> bool:
    """Whether character `c` may come next under the bar's rules (`BarClock._policy`)."""
    kind = state[0]
    if kind == "group":
        if state[1] in ("chord", "grace"):  # notes without lengths (a chord's goes after its "]")
            if c in ",'":
                return c == state[3]
            if c in "^_=ABCDEFGabcdefg" and (not state[4] or c in state[5]):
                return False
        return c != END and GROUP_RULES[state[1]](c, state[2])
    if kind == "colon":                    # ":|" (write ":|:" rather than the "::" shorthand)
        return c == "|"
    if kind == "accidental":               # ^ _ = lead to a note (or ^^, __)
        return c in NOTE_LETTERS or (c == state[1] and c != "")
    if kind == "finish":
        return c == END or c == "\n"
    if kind == "delim":                    # (colon_ok, end_ok, double_ok): "|:", "|" + end, "||"
        return (c == "|" and state[3]) or (c == "]" and state[2]) or (c == ":" and state[1]) \
            or (c == END and state[2])
    if kind == "open":                     # (colon_ok, space_ok): a repeated part opens with "|:"
        return (c == ":" and state[1]) or (c in " \n" and state[2]) or (c == "|" and not state[1])
    if kind == "plain":                    # the "|" just written stays a plain bar line
        return c not in "|]:" and not c.isdigit() and c != END and _allows(state[1], c)
    if kind == "tie":
        inner = state[2]
        if c == state[1]:
            return inner[0] in ("empty", "part")
        if c in ".~()" or c in abcreader.DECORATION_LETTERS:
            return inner[0] in ("empty", "part")
        return c in " \n|" and _allows(inner, c)
    if kind == "broken":                   # A>B: the second note comes right away
        return (c in NOTE_STARTS or c in "^_=") and _allows(state[1], c)
    if kind == "deco":
        if c == "{" and not state[2]:
            return False                   # grace notes need a note between them
        if c == "(":
            return state[3] and _allows(state[1], c)   # ".(AB)" but not "T(AB)"
        if c.isdigit():
            return _allows(state[1], c)     # "~(3": a tuplet
        return c in DECORATED and state[1][0] in ("empty", "part") and _allows(state[1], c)
    if c in '!"+':
        return False                       # no new !decoration! or "text": the model loses its way in them
    detail: Detail = state[-1]
    gate = state[-2] if kind in ("empty", "part") else None
    if gate is not None and (c in NOTE_STARTS or c in "^_=["):
        return c in NOTE_LETTERS and c.upper() in gate   # the note that ends a part: tonic chord
    if c == "|" and kind in ("over", "full", "part") and state[1 if kind != "part" else 4]:
        return False                       # this bar ends a repeated part: ":|"
    if detail.must is not None:
        return c == detail.must or (c in ",'" and c in detail.octave)
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
        return detail.bracket and (kind != "empty" or state[1])
    if kind == "over":
        return False
    if kind == "full":
        return c in FULL_OK
    if c.isalpha():                        # notes, rests and one-letter decorations, no words
        return c in NOTE_STARTS or c in abcreader.DECORATION_LETTERS
    if kind == "empty":
        if c in "|:":
            return state[2]
        if c in "<>":
            return False                   # a broken rhythm needs a note before it
        return c != END or state[1]
    _, short_ok, broken_ok, tuplet_open, _, _, _ = state
    if c == END:
        return False
    if c in "|:":
        return short_ok and not tuplet_open
    if c in "<>":
        return broken_ok
    return True


def open_group(line: str) -> str | None:
    """The kind of group left open at the end of `line` (a line of an ABC body), or None."""
    state = BarClock(meter="none").feed_text(line)._policy()
    return state[1] if state[0] == "group" else None
