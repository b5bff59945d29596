"""Follow a tune body as the model writes it, one character at a time: where the writer is in the
bar, the part and the requested form, and what it has left open.

The body is read by the same `Lexer` and `Measure` as the validator (`abcgen.abc.reader`), so a
note, a chord, a tuplet or a broken rhythm is what the validator will read, and bar lengths are the
same exact Fractions. The clock adds what only a writer needs: pickups and the bars that complete
them, parts and repeats, the requested form, cadences and range. `abcgen.sampling.rules` turns this
into what may come next (`BarClock.state()` and `allows`); the validator has the last word.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property, lru_cache

from abcgen.abc import header as abc_fields
from abcgen.abc.reader import NOTE_RE, ONE, TUPLET_RE, Lexer, Measure, Pending, Token, chord_multiplier, multiplier
from abcgen.sampling.rules import Next, next_state

NOTE_LETTERS = frozenset("ABCDEFGabcdefg")
DECORATION_CHARS = frozenset(".~HLMOPSTuvk")  # what marks the next note (the one-letter decorations)
STEPS = "CDEFGAB"
OPEN_NOTE = ("note", "rest")


@lru_cache(maxsize=256)
def pitch_index(note: str) -> int:
    """Diatonic steps from C0 of an ABC pitch ("G," -> 25, "c" -> 35, "e'" -> 44)."""
    letter = note[0]
    octave = (4 if letter.isupper() else 5) - note.count(",") + note.count("'")
    return octave * 7 + STEPS.index(letter.upper())


def tonic_letters(key: str | None) -> tuple[str, frozenset] | None:
    """(the mode's final, the letters of its tonic triad) for a canonical K: value, or None
    (no key, a Highland pipes or free key)."""
    if not key or key[0] not in STEPS:
        return None
    i = STEPS.index(key[0])
    return key[0], frozenset(STEPS[(i + k) % 7] for k in (0, 2, 4))


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


class BarClock:
    """Where the writer is in the current bar, part and form, and what it has left open."""

    def __init__(self, meter: str = "4/4", unit: str = "1/8", sections: int | None = None,
                 bars: list[int | None] = (), repeats: tuple[bool, ...] = (), full_bars: bool = False,
                 key: str | None = None, low: str | None = None, high: str | None = None):
        self.lexer = Lexer()
        self.measure = Measure(meter, Fraction(unit))   # completed symbols of the current bar
        self.notes = 0           # notes and rests in the current bar
        self.bars = 0            # bars closed that held notes
        self.pickup = Fraction(0)       # length of the tune's opening pickup bar, 0 when it has none
        self.part_pickup = Fraction(0)  # the same for the current part
        self.last_bar = Fraction(0)     # length of the bar before this one
        self.left_delim = False  # this bar follows a double bar or a repeat
        self.need_delim = False  # a short bar closing a part just got its "|": make it "||", "|]", "|:"
        self.closing = False     # the last symbol written is a bar line that can end the tune
        self.prev = self.prev2 = ""
        self.repeats = Repeats()
        self.links = Links()
        self.asked = Asked(sections, tuple(bars), tuple(repeats), full_bars, tonic_letters(key),
                           pitch_index(low) if low else None, pitch_index(high) if high else None)
        self.section = Section()
        self.plain_pending = False        # a plain "|" that a next "|", "]" or ":" makes a delimiter
        self.need_plain = False           # the section goes on: the "|" just written must stay plain
        self.blank = True                 # only bar lines and spaces since the last bar line
        self.ended = False                # "|]" was written: only the end may follow
        self._now_cache: tuple[Measure, Fraction] | None = None

    # -- reading -------------------------------------------------------------------------------

    def feed_text(self, text: str) -> "BarClock":
        for c in text:
            self.feed(c)
        return self

    def feed(self, c: str) -> None:
        prev, prev2 = self.prev, self.prev2
        self.prev, self.prev2 = c, prev
        self._now_cache = None
        self.need_delim = self.need_plain = False
        if self.plain_pending and prev == "|" and c in "|]:":
            self.section.lines -= 1           # "||", "|]", "|:": a delimiter after all
            self._end_section()
        self.plain_pending = False
        if c not in " \n|:]":
            self.blank = False
        was = self.lexer.pending
        for token in self.lexer.feed(c):
            self._complete(token)
        now = self.lexer.pending
        if was is not None and was.kind in ("quote", "decoration", "grace", "bracket", "field_name", "field",
                                            "chord") and "]" not in was.text:
            self._in_group(was, now, c)
            return
        if now is not None and now.kind == "ending" and len(now.text) == 1 + now.text.startswith("["):
            self._ending(now.text[-1])
        if c.isdigit():
            self.closing = False
            return
        if now is not None and now.kind in OPEN_NOTE and now.text.lstrip("^_=") == c:
            self._start_note(now)
        elif c in "<>":
            self._broken()
        elif c in ",'/" and now is not None and now.kind in OPEN_NOTE:
            pass                              # the note being written goes on
        elif c == "|":
            self._bar_line(after_colon=prev == ":")
        elif c == "]" and self.closing:
            self.left_delim = self.ended = True  # "|]"
        else:
            if c == "-" and self._open_note(was):
                self.links.tie_letter = was.text.lstrip("^_=")[0] if was.kind == "note" else None
                self.links.tie_octave = _marks(was.text)
            if c == ":":
                self._colon(prev, prev2)
            elif c in "ZX":                      # a multi-bar rest fills its bar
                self.notes += 1
            elif c in DECORATION_CHARS:
                self.links.deco = True
                self.links.decos += c
            if c not in " \n":
                self.closing = False             # "|:" cannot end a tune; ":|" ends on its "|"

    def _in_group(self, was: Pending, now: Pending | None, c: str) -> None:
        """A character inside a group the lexer holds open ([CE], {g}, "Am", !trill!, [K:G])."""
        if now is not None and now.kind == "bar":            # "[|" ends a section like ":|"
            self._bar_line(after_colon=True)
        elif now is not None and now.kind == "ending":       # "[1"
            self._ending(c)
        elif was.kind == "grace" and c == "}":
            self.links.deco = True                                 # grace notes lead to a note
        elif c == "]" and now is not None and now.kind == "chord":
            self._start_note(now)                            # a chord starts at its "]"
        if c not in " \n":
            self.closing = False

    def _complete(self, token: Token) -> None:
        """A symbol the lexer finished: count it in the bar."""
        kind = token.kind
        if kind in ("note", "rest", "chord"):
            in_tuplet = self.measure.tuplet_left > 0
            self.measure.note(multiplier(token) or ONE)
            self.links.last_suffix = _suffix(kind, token.text)
            if self.links.tuplet_first:
                self.links.tuplet_suffix, self.links.tuplet_first = self.links.last_suffix, False
            if not in_tuplet or self.measure.tuplet_left == 0:
                self.links.tuplet_suffix = None
        elif kind == "multirest":
            self.measure.fill()
        elif kind == "tuplet":
            self.measure.tuplet(token.text)
            self.links.tuplet_first, self.links.tuplet_suffix = True, None
        elif kind == "broken":
            self.measure.broken_rhythm(token.text)
        elif kind == "field":
            self._inline_field(token.text[1:-1])

    # -- the symbol being written --------------------------------------------------------------

    @staticmethod
    def _open_note(p: Pending | None) -> bool:
        """Whether `p` is a note, rest or chord whose length may still grow."""
        return p is not None and (p.kind in OPEN_NOTE or (p.kind == "chord" and "]" in p.text))

    @property
    def open_note(self) -> bool:
        return self._open_note(self.lexer.pending)

    @property
    def group(self) -> str | None:
        """The kind of group left open: chord, grace, quote, decoration, bracket, field_name, field."""
        p = self.lexer.pending
        if p is None or p.kind not in ("chord", "grace", "quote", "decoration", "bracket", "field_name",
                                       "field") or (p.kind == "chord" and "]" in p.text):
            return None
        if p.kind == "field_name" and p.text[1] in NOTE_LETTERS:
            return "chord"                   # "[D": a chord unless ":" follows, which chords forbid
        return p.kind

    @property
    def group_text(self) -> str:
        return self.lexer.pending.text[1:]

    @property
    def letter(self) -> str | None:
        """The pitch letter of the note being written (None for a rest or a chord)."""
        p = self.lexer.pending
        if p is None or p.kind != "note":
            return None
        return p.text.lstrip("^_=")[0]

    @property
    def octave(self) -> int:
        return _marks(self.lexer.pending.text) if self.letter else 0

    def suffix(self) -> str:
        """The length written after the note being written so far ("", "2", "/", "3/2")."""
        p = self.lexer.pending
        return _suffix(p.kind, p.text)

    @property
    def after_paren(self) -> bool:
        p = self.lexer.pending
        return p is not None and p.kind == "paren" and p.text == "("

    @property
    def tuplet_spec(self) -> bool:
        p = self.lexer.pending
        return p is not None and p.kind == "paren" and len(p.text) > 1

    def now(self) -> tuple[Measure, Fraction]:
        """The bar as if the symbol being written ended here, and what one L of the note being
        written is worth (its length per unit of multiplier)."""
        if self._now_cache is None:
            p = self.lexer.pending
            m = self.measure.copy()
            base = m.duration()
            if p is not None and p.kind == "chord" and "]" in p.text:   # a chord counts in its first note
                base *= chord_multiplier(p.text[:p.text.rindex("]") + 1]) or 1
            if p is not None and p.kind == "paren" and len(p.text) > 1:
                m.tuplet(TUPLET_RE.match(p.text).group(0))
            elif p is not None and p.kind == "broken":
                m.broken_rhythm(p.text)
            elif p is not None and p.kind == "multirest":
                m.fill()
            elif self._open_note(p):
                m.note(multiplier(Token(p.kind, p.text, p.start)) or ONE)
            self._now_cache = (m, base)
        return self._now_cache

    @property
    def used(self) -> Fraction:
        """What the current bar holds, the note being written included, in whole notes."""
        return self.now()[0].length

    @property
    def bar_len(self) -> Fraction | None:
        return self.measure.bar_length

    @property
    def open_repeat(self) -> bool:
        """A repeat, or a first ending, waits for its ":|"."""
        return self.repeats.open or self.repeats.ending_open

    @property
    def tuplet_left(self) -> int:
        return self.now()[0].tuplet_left

    # -- musical events ------------------------------------------------------------------------

    def _start_note(self, p: Pending) -> None:
        self.links.exact = self.links.broken_suffix if self.links.broken_suffix is not None else self.links.tuplet_suffix
        if self.repeats.just_closed:
            self.repeats.first_ending = False         # the repeat closed without a second ending
        self.links.broken_suffix = None
        accidental = p.kind == "note" and p.text[0] in "^_="
        self.links.last_pitch = p.text[-1].upper() if p.kind == "note" and not accidental else ""
        self.notes += 1
        self.section.has_notes = True
        self.closing = self.links.deco = self.repeats.just_closed = self.links.broken_next = False
        self.links.octave_target = self.links.tie_octave if self.links.tie_letter else None
        self.links.tie_letter = None
        self.links.note_decos, self.links.decos = self.links.decos, ""

    def _broken(self) -> None:
        """A>B: B is written with A's length, as abc2midi requires."""
        p = self.lexer.pending
        if p is not None and p.kind == "broken" and len(p.text) == 1 and self.measure.last is not None:
            self.links.broken_suffix = self.links.last_suffix
            self.links.broken_next = True
        self.closing = False

    def _ending(self, number: str) -> None:
        self.repeats.first_ending = number == "1"
        self.repeats.second_ending = number == "2"
        self.repeats.ending_open = self.repeats.ending_open or self.repeats.first_ending

    def _colon(self, prev: str, prev2: str) -> None:
        if prev == "|" or (prev == ":" and prev2 != "|"):   # "|:" or the second colon of "::"
            self.repeats.open = True
            self.repeats.reopened = prev == ":" or prev2 == ":"     # ":|:" or "::" (abc2midi then reads no "|1")
        elif prev != ":":                                   # ":|" or the first colon of "::"
            self.repeats.open = self.repeats.ending_open = False
            self.repeats.closed += 1
            self.repeats.just_closed = True

    def _bar_line(self, after_colon: bool = False) -> None:
        """A "|" (`after_colon`: the end of ":|", which always ends a section)."""
        if self.notes:
            first_of_section = self.section.bars == 0
            need = self.form_needs()
            if after_colon:
                self._end_section()
            elif self.section.has_notes:
                self.section.lines += 1
                self.plain_pending = True
                self.need_delim = need == "delimiter"
                self.need_plain = need == "plain"
            kind = self.short_kind()
            used = self.used
            if kind in ("pickup", "part pickup") and self.section.lines <= 1 and not after_colon:
                self.section.opened_short = True
            if kind == "pickup":
                self.pickup = used
            if first_of_section:              # a part's first bar: its pickup, when short
                self.part_pickup = used if kind in ("pickup", "part pickup") else Fraction(0)
            self.section.bars += not after_colon
            if kind == "completes":
                self.need_delim = self.need_delim or not after_colon
            self.bars += 1
            self.last_bar = used
            self.left_delim = after_colon
        else:
            self.left_delim = self.left_delim or self.bars > 0   # "||"
        self.measure.close()
        self._now_cache = None
        self.notes = 0
        self.closing = self.blank = True
        self.links.deco = False

    def _end_section(self) -> None:
        self.section.end()
        self.repeats.second_ending = False

    def _inline_field(self, text: str) -> None:
        letter, _, value = text.partition(":")
        try:
            if letter == "M":
                self.measure.set_field("M", abc_fields.parse_meter(value.strip()))
            elif letter == "L":
                self.measure.set_field("L", abc_fields.parse_unit(value.strip()))
        except Exception:  # noqa: BLE001 - a bad inline field is the validator's to report
            return

    # -- the form --------------------------------------------------------------------------------

    def form_needs(self, ahead: int = 0) -> str | None:
        """What the bar line closing the current bar (or the bar `ahead` bars later) must be under
        the requested form: a "delimiter" (the section has its bars), "plain" (it has not), or
        None (free)."""
        if not self.asked.form:
            return None
        k = self.section.done
        bars = self.asked.bars[k] if k < len(self.asked.bars) else None
        if bars is None:
            return None
        bars += self.asked.full_bars and self.section.opened_short     # a pickup is on top of the full bars
        return "delimiter" if self.section.lines + 1 + ahead >= bars else "plain"

    def next_bar_ends_part(self) -> bool:
        """Under a form, whether the bar after this one is its part's last."""
        return self.form_needs(ahead=1) == "delimiter"

    def part_repeats(self) -> bool:
        """Whether the current section of the requested form is written |: ... :|."""
        k = self.section.done
        return k < len(self.asked.repeats) and self.asked.repeats[k]

    def last_bar_of_part(self) -> bool:
        return self.form_needs() == "delimiter"

    def bar_length_now(self) -> Fraction | None:
        """The current bar's length; a musician's part that opened with a pickup ends with a bar
        that much shorter."""
        if self.bar_len is not None and self.asked.full_bars and self.section.opened_short and self.last_bar_of_part():
            return self.bar_len - self.part_pickup
        return self.bar_len

    def final_ok(self) -> bool:
        """The tune may end here as far as its cadence and parts go."""
        if self.asked.cadence is None:
            return True
        parts = self.section.done + (1 if self.section.has_notes else 0)
        return self.links.last_pitch == self.asked.cadence[0] and (self.asked.form or parts >= 2)

    def cadence_letters(self) -> frozenset | None:
        """The notes that may end the current bar, when it ends a part under a requested form."""
        if self.asked.cadence is None or not self.asked.form or not self.last_bar_of_part():
            return None
        last = self.asked.sections is not None and self.section.done + 1 >= self.asked.sections
        return frozenset(self.asked.cadence[0]) if last else self.asked.cadence[1]

    def form_done_after_delimiter(self) -> bool:
        """Whether the delimiter being written ends the last requested section."""
        return self.asked.sections is None or self.section.done + 1 >= self.asked.sections

    def form_done(self) -> bool:
        return self.asked.sections is not None and self.section.done >= self.asked.sections

    def short_kind(self) -> str | None:
        """Which pickup the current bar may be if it closed now: "full" when it is not short."""
        used = self.used
        if self.bar_len is None or used >= self.bar_len:
            return "full"
        if self.bars == 0:
            return "pickup"
        if self.left_delim and used + self.last_bar == self.bar_len:
            return "part pickup"             # completes the short bar that ended the last part
        room = self.bar_len - used
        if any(p > 0 and room == p for p in (self.pickup, self.part_pickup)) \
                and self.form_needs() != "plain":
            return "completes"
        return None

    def in_range(self, marks: int) -> bool:
        """Whether the note being written, with `marks` octave marks, stays in the range."""
        letter, step = self.letter, 7 * marks
        if letter.isupper():
            return self.asked.low is None or pitch_index(letter) - step >= self.asked.low
        return self.asked.high is None or pitch_index(letter) + step <= self.asked.high

    def state(self) -> Next:
        """What may come next (`abcgen.sampling.rules`): hashable, so the sampler caches one mask per
        value."""
        return next_state(self)


def _marks(text: str) -> int:
    return text.count(",") + text.count("'")


@lru_cache(maxsize=4096)
def _suffix(kind: str, text: str) -> str:
    """The length written after a note, rest or chord ("", "2", "/", "3/2")."""
    if kind == "chord":
        return text[text.rindex("]") + 1:]
    m = NOTE_RE.fullmatch(text) if kind == "note" else None
    return "".join(m.group(4, 5, 6)) if m else text[1:]
