"""One tune state, in the shape of lark's interactive parser: `TuneState.feed(c)` reads one
character of a tune body and returns the next state (the old one is left as it was), so a writer
can keep, share or try states freely. The state knows where the tune is in its bar, its part, its
repeats and the requested form, and what it has left open.

The body is read by the same `Lexer` and `Measure` as the validator (`abcgen.abc.reader`), so a
note, a chord, a tuplet or a broken rhythm is what the validator will read, and bar lengths are the
same exact Fractions. What may come next is answered from the state by `abcgen.abc.accepts`
(the grammar) and `abcgen.abc.policy` (the writer's named checks: form, cadence, range, chords,
loops); the validator has the last word.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

from abcgen.abc import header as abc_fields
from abcgen.abc import policy
from abcgen.abc.policy import pitch_index, tonic_letters
from abcgen.abc.reader import NOTE_RE, ONE, TUPLET_RE, Lexer, Measure, Pending, Token, chord_multiplier, multiplier
from abcgen.abc.tune_parts import Asked, Links, Repeats, Section

NOTE_LETTERS = frozenset("ABCDEFGabcdefg")
DECORATION_CHARS = frozenset(".~HLMOPSTuvk")  # what marks the next note (the one-letter decorations)
OPEN_NOTE = ("note", "rest")
END = "\x04"       # the end of a tune, as the writer says it (never part of ABC text)


class TuneState:
    """Where a tune is in its bar, part and form, and what it has left open. Never changed once
    made: `feed` returns a new state."""

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
        self.bar_text = ""                # the current bar as written, without spaces
        self.recent: tuple[str, ...] = ()     # the last full bars, as written (policy.LOOP_RUN - 1)
        self.bar_counts: dict[str, int] = {}  # full bar as written -> times; replaced, never changed
        self.looping: frozenset = frozenset()  # bars the writer may not write next (policy.looping_bars)
        self.landed: str | None = None    # the note the last closed bar lands on (policy.beats)
        self.onsets: tuple = ()           # (onset, letter, pitched) of each note in the current bar
        self._now_cache: tuple[Measure, Fraction] | None = None

    # -- reading -------------------------------------------------------------------------------

    def feed_text(self, text: str) -> "TuneState":
        """The state after every character of `text`."""
        state = self._copy()
        for c in text:
            state._read(c)
        return state

    def feed(self, c: str) -> "TuneState":
        """The state after one more character; this one is left as it was."""
        state = self._copy()
        state._read(c)
        return state

    def _copy(self) -> "TuneState":
        twin = _clone(self)
        for name in ("lexer", "repeats", "links", "section", "measure"):
            setattr(twin, name, _clone(getattr(self, name)))
        twin.lexer._out = []
        return twin

    def _read(self, c: str) -> None:
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
        if c not in " \n":
            self.bar_text += c
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
            if self.asked.cadence is not None:
                self.onsets += ((self.measure.length, self.links.last_pitch or "", kind != "rest"),)
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

    def landing_now(self) -> str | None:
        """The note the current bar would land on if it closed here (`policy.landing`)."""
        m, _ = self.now()
        onsets = self.onsets
        p = self.lexer.pending
        if self._open_note(p):
            onsets += ((m.length - m.last, self.links.last_pitch or "", p.kind != "rest"),)
        return policy.landing(m.meter, policy.bar_length_now(self), onsets, m.length, self.links.last_pitch)

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
            if self.asked.cadence is not None:   # before the section moves on: the bar's own length
                self.landed = policy.landing(self.measure.meter, policy.bar_length_now(self), self.onsets,
                                             self.measure.length, self.links.last_pitch)
            first_of_section = self.section.bars == 0
            need = policy.form_needs(self)
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
            if kind == "full":
                self._count_bar(self.bar_text.rstrip("|:"))
        else:
            self.left_delim = self.left_delim or self.bars > 0   # "||"
        self.measure.close()
        self.onsets = ()
        self.bar_text = ""
        self._now_cache = None
        self.notes = 0
        self.closing = self.blank = True
        self.links.deco = False

    def _count_bar(self, text: str) -> None:
        """A full bar closed: what the loop check (`policy.looping_bars`) reads."""
        text = text.lstrip(":|]0123456789")
        self.recent = (self.recent + (text,))[1 - policy.LOOP_RUN:]
        self.bar_counts = {**self.bar_counts, text: self.bar_counts.get(text, 0) + 1}
        self.looping = policy.looping_bars(self)

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
                and policy.form_needs(self) != "plain":
            return "completes"
        return None



_CLONERS: dict[type, object] = {}      # class -> its copier, written once from a fresh instance's attributes
_SAMPLE_ARGS = {Measure: ("4/4", Fraction(1, 8))}


def _clone(obj):
    """A shallow copy, attribute by attribute. Copying `__dict__` whole would make every later
    attribute read on both objects slower (CPython then keeps their attributes in a plain dict),
    and a loop of setattr costs the sampler more than the copy is worth, so each class gets a
    copier written out once: `twin.a = obj.a; twin.b = obj.b; ...`."""
    cls = type(obj)
    copier = _CLONERS.get(cls)
    if copier is None:
        names = vars(cls(*_SAMPLE_ARGS.get(cls, ())))
        lines = "".join(f"    twin.{name} = obj.{name}\n" for name in names)
        code = f"def copier(obj):\n    twin = new(cls)\n{lines}    return twin\n"
        scope = {"new": cls.__new__, "cls": cls}
        exec(code, scope)  # noqa: S102 - the code is built from the class's own attribute names
        copier = _CLONERS[cls] = scope["copier"]
    return copier(obj)


def _marks(text: str) -> int:
    return text.count(",") + text.count("'")


@lru_cache(maxsize=4096)
def _suffix(kind: str, text: str) -> str:
    """The length written after a note, rest or chord ("", "2", "/", "3/2")."""
    if kind == "chord":
        return text[text.rindex("]") + 1:]
    m = NOTE_RE.fullmatch(text) if kind == "note" else None
    return "".join(m.group(4, 5, 6)) if m else text[1:]
