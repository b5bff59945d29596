"""The rules of an ABC tune body, written once: tokens, note lengths, tuplets, broken rhythm, bar
lines, section delimiters and endings.

`Lexer` reads a body one character at a time and hands back each token once it is complete;
`pending` says what the token being written is so far. The validator feeds it whole lines, the
bar clock one character at a time as the model writes, so both read ABC the same way. `Measure`
counts how long the bar being written is (in whole notes, as Fractions) from those tokens.
"""
from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from abcgen.abc.header import meter_length

NOTE_RE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)(\d*)(/*)(\d*)")
REST_RE = re.compile(r"([zx])(\d*)(/*)(\d*)")
MULTIREST_RE = re.compile(r"([ZX])(\d*)")
LENGTH_RE = re.compile(r"(\d*)(/*)(\d*)")
# One bar line, longest first: "|", "||", "|]", "[|", ":|", "|:", ":|:", "::|"...; "::" alone is
# shorthand for ":|:".
BAR_RE = re.compile(r":*(?:\[\||\|)[|\]]*(?::+(?!\|))?|::+")
ENDING_RE = re.compile(r"\d+(?:[,-]\d+)*")
TUPLET_RE = re.compile(r"\((\d+)(?::(\d*))?(?::(\d*))?")
INLINE_FIELD_RE = re.compile(r"\[([A-Za-z]):([^\]\n]*)\]")
# Text that is not notes or bar lines: chord symbols and annotations, decorations, comments,
# inline fields, field lines and tuplet ratios such as "(3::2" (for readers that skip it whole).
OPAQUE_RE = re.compile(r'"[^"\n]*"|![^!\n]*!|%[^\n]*|\[[A-Za-z]:[^\]\n]*\]|^[A-Za-z]:(?![|:])[^\n]*'
                       r'|\(\d+(?::\d*)+', re.M)

NOTE_LETTERS = frozenset("ABCDEFGabcdefg")
ACCIDENTALS = frozenset("^_=")
DECORATION_LETTERS = frozenset("HLMOPSTuvk")  # the usual one-letter decorations, stackable
IGNORED = frozenset(" \t\\`$*;")  # spacing, beaming, line continuation, score line break
COMPOUND_TOPS = (6, 9, 12)
ONE = Fraction(1)
_SINGLE = {"-": "tie", ")": "slur_end", "&": "overlay", "~": "decoration", ".": "decoration"}
_GROUP_CLOSE = {"quote": '"', "grace": "}", "field": "]", "decoration": None}


# ----------------------------------------------------------------------------------------
# rules

def length_multiplier(num: str, slashes: str, den: str) -> Fraction | None:
    """A note-length multiplier (A2, A/, A3/2, A//); None when it divides by zero."""
    n = int(num) if num else 1
    if not slashes:
        return Fraction(n)
    d = int(den) * 2 ** (len(slashes) - 1) if den else 2 ** len(slashes)
    return Fraction(n, d) if d else None


def ending_numbers(label: str) -> set[int]:
    """The passes an ending label plays on: "1" -> {1}, "1,3" -> {1, 3}, "1-3" -> {1, 2, 3}."""
    nums: set[int] = set()
    for part in label.lstrip("[").split(","):
        a, _, b = part.partition("-")
        if a.isdigit():
            nums.update(range(int(a), int(b if b.isdigit() else a) + 1))
    return nums


def is_section_delimiter(bar: str) -> bool:
    """Sections end at repeats (any bar line with a colon), "||", "|]" and "[|"; "[|]" is an
    invisible bar line, no delimiter."""
    return ":" in bar or bar.replace("[|]", "") not in ("", "|")


def compound(meter: str) -> bool:
    """6/8, 9/8, 12/8 and the like: tuplets default to three notes in the time of two."""
    return meter_length(meter) is not None and meter not in ("C", "C|") \
        and int(meter.split("/")[0].split("+")[0]) in COMPOUND_TOPS


def tuplet_ratio(text: str, meter: str) -> tuple[int, Fraction, int]:
    """(p, time factor, notes it covers) of a tuplet such as "(3" or "(3:2:3", with the
    standard's defaults for q: 3 for (2, (4 and (8, 2 for (3 and (6, else 3 in compound meter."""
    m = TUPLET_RE.match(text)
    p = int(m.group(1))
    default_q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound(meter) else 2)
    q = int(m.group(2)) if m.group(2) else default_q
    r = int(m.group(3)) if m.group(3) else p
    return p, (Fraction(q, p) if p else Fraction(1)), r


def broken_factors(sign: str, count: int) -> tuple[Fraction, Fraction]:
    """The factors a broken rhythm gives its two notes: A>B is (3/2, 1/2), A>>B (7/4, 1/4)."""
    short = Fraction(1, 2 ** count)
    return (2 - short, short) if sign == ">" else (short, 2 - short)


def chord_notes(text: str) -> str:
    """What a chord token ("[CE]2", "["Am"A!trill!c]") holds between its brackets, chord symbols
    and decorations left out: its notes."""
    return re.sub(r'"[^"]*"|![^!]*!', "", text[1:text.rindex("]")])


def chord_multiplier(text: str) -> Fraction | None:
    """A chord lasts as long as its first note, times the length written after its "]"."""
    first = NOTE_RE.search(chord_notes(text))
    if first is None:
        return None
    outer = LENGTH_RE.fullmatch(text, text.rindex("]") + 1)
    a, b = length_multiplier(*first.group(4, 5, 6)), length_multiplier(*outer.groups())
    return None if a is None or b is None else a * b


def multiplier(token: "Token") -> Fraction | None:
    """The length multiplier of a note, rest or chord token (None when it divides by zero)."""
    return _multiplier(token.kind, token.text)


@lru_cache(maxsize=4096)
def _multiplier(kind: str, text: str) -> Fraction | None:
    if kind == "chord":
        return chord_multiplier(text)
    m = (NOTE_RE if kind == "note" else REST_RE).fullmatch(text)
    return length_multiplier(*m.groups()[-3:])


# ----------------------------------------------------------------------------------------
# tokens

class Token(NamedTuple):
    """One symbol of a body. kind is one of: note, rest, multirest, chord, grace, quote,
    decoration (!trill!, +trill+, ~ and .), letter (a one-letter decoration or a letter of a
    word), field ([K:G]), bar, ending (the "1" of "|1" or "[1"), tuplet, slur, slur_end, tie,
    broken (> >> <), overlay (&), space, comment, number (digits that belong to no note), stray
    (any other character), accidental (one that leads to no note) and unclosed (a group the line
    ends inside: its text says which)."""
    kind: str
    text: str
    start: int  # offset of its first character in what was fed


class Pending(NamedTuple):
    """The token being written: its kind so far and its text."""
    kind: str
    text: str
    start: int


class Lexer:
    """Splits a body into tokens, one character at a time (`feed`), or a whole line (`line`).

    A token is handed back once the character after it shows it is complete; a line's end (the
    end of `line`, or a line break fed) closes whatever is open, and a group left open becomes an
    "unclosed" token. Offsets count every character fed, so the validator can point at a line and
    a column."""

    def __init__(self, pos: int = 0):
        self.pending: Pending | None = None
        self.pos = pos
        self.after_bar = False   # the last token was a bar line: digits number an ending
        self._out: list[Token] = []

    def line(self, text: str, base: int) -> list[Token]:
        """Every token of one line (no line break in `text`) at offset `base`."""
        self.pos = base
        for c in text:
            self._char(c)
        self._end()
        out, self._out = self._out, []
        return out

    def feed(self, c: str) -> list[Token]:
        """Read one character; the tokens it completed."""
        if c == "\n":
            self._end()
            self.pos += 1
        else:
            self._char(c)
        out, self._out = self._out, []
        return out

    # -- internals ---------------------------------------------------------------------------

    def _emit(self, kind: str, text: str, start: int) -> None:
        self._out.append(Token(kind, text, start))
        self.after_bar = kind == "bar"

    def _char(self, c: str) -> None:
        while self.pending is not None:
            p = self.pending
            if self._extend(p, c):
                self.pos += 1
                return
            self.pending = None
            self._flush(p)        # may leave a new pending token: what its pattern did not take
        self._start(c)

    def _end(self) -> None:
        """The line ends: close the open token, or report the group it leaves open."""
        while self.pending is not None:              # a flush may leave a new pending token
            p, self.pending = self.pending, None
            if p.kind in ("quote", "grace", "field", "decoration") or (p.kind == "chord" and "]" not in p.text):
                self._emit("unclosed", p.kind, p.start)
                if p.kind in ("chord", "decoration"):    # the rest of the line is read as music
                    self._refeed(p.text[1:], p.start + 1)
            else:
                self._flush(p)                       # "[K" at a line's end is read as music

    def _refeed(self, text: str, start: int) -> None:
        self.pos = start
        for c in text:
            self._char(c)

    def _start(self, c: str) -> None:
        start = self.pos
        self.pos += 1
        after_bar = self.after_bar
        self.after_bar = False
        if c in IGNORED:
            return self._emit("space", c, start)
        kind = None
        if c in ACCIDENTALS:
            kind = "accidental"
        elif c in NOTE_LETTERS:
            kind = "note"
        elif c in "zx":
            kind = "rest"
        elif c in "ZX":
            kind = "multirest"
        elif c in "|:":
            kind = "bar"
        elif c == "[":
            kind = "bracket"
        elif c.isdigit():
            kind = "ending" if after_bar else "number"
        elif c in '"{!+%(<>':
            kind = {'"': "quote", "{": "grace", "!": "decoration", "+": "decoration", "%": "comment",
                    "(": "paren", "<": "broken", ">": "broken"}[c]
        if kind is not None:
            self.pending = Pending(kind, c, start)
        elif c in _SINGLE:
            self._emit(_SINGLE[c], c, start)
        elif c.isalpha():
            self._emit("letter", c, start)
        else:
            self._emit("stray", c, start)

    def _extend(self, p: Pending, c: str) -> bool:
        """Whether `c` continues the pending token (then it is taken into it)."""
        kind, text = p.kind, p.text
        if kind in _GROUP_CLOSE:                     # a group runs to its closing character
            return self._group(p, c)
        if kind == "comment":
            ok = True
        elif kind == "accidental":
            ok = c in NOTE_LETTERS or (c == text[-1] and c != "=" and len(text) == 1)
            if ok and c in NOTE_LETTERS:
                kind = "note"
        elif kind == "note":
            ok = NOTE_RE.fullmatch(text + c) is not None
        elif kind == "rest":
            ok = REST_RE.fullmatch(text + c) is not None
        elif kind == "multirest":
            ok = c.isdigit()
        elif kind == "bar":
            ok = c in "|:]" or (c == "[" and not text.strip(":"))    # ":[|" as BAR_RE reads it
        elif kind == "bracket":                      # "[" then: "[|", "[1", "[K:" or a chord
            if c == "|":
                kind = "bar"
            elif c.isdigit():
                kind = "ending"
            elif c.isalpha():
                kind = "field_name"
            elif c == "]":
                self.pending = None
                self._emit("chord", text + c, p.start)
                return True
            else:
                kind = "chord"
            ok = True
        elif kind == "field_name":                   # "[K" so far: a field if ":" follows
            kind = "field" if c == ":" else "chord"
            ok = kind == "field" or c != "|"
        elif kind == "chord":                        # up to "]", then its length
            if "]" in text:
                ok = LENGTH_RE.fullmatch(text[text.rindex("]") + 1:] + c) is not None
            else:
                ok = c != "|"                        # "[C|": a chord never closed
        elif kind == "ending":
            ok = c.isdigit() or (c in ",-" and text[-1].isdigit())
        elif kind == "number":
            ok = c.isdigit() or c == "/"
        elif kind == "paren":                        # "(" then digits: a tuplet
            ok = c.isdigit() or (c == ":" and len(text) > 1 and text.count(":") < 2)
        elif kind == "broken":
            ok = c == text[0]
        else:
            ok = False
        if ok:
            self.pending = Pending(kind, text + c, p.start)
        return ok

    def _group(self, p: Pending, c: str) -> bool:
        """A character inside a group (quote, grace notes, inline field, decoration): taken in, and
        the group handed back when `c` closes it."""
        grown = p.text + c
        if c == (_GROUP_CLOSE[p.kind] or p.text[0]):
            self.pending = None
            self._emit(p.kind, grown, p.start)
        else:
            self.pending = p._replace(text=grown)
        return True

    def _flush(self, p: Pending) -> None:
        """Emit a complete pending token; what its pattern does not take is read again."""
        kind, text, start = p
        rest = ""
        if kind == "bar":
            m = BAR_RE.match(text)
            if m is None:
                self._emit("stray", text[0], start)
                rest = text[1:]
            else:
                self._emit("bar", m.group(0), start)
                rest = text[m.end():]
        elif kind == "ending":
            m = ENDING_RE.match(text.lstrip("["))
            cut = m.end() + (text[0] == "[")
            self._emit("ending", text[:cut], start)
            rest = text[cut:]
        elif kind == "paren":
            m = TUPLET_RE.match(text)
            if m is None:
                self._emit("slur", "(", start)
            else:
                self._emit("tuplet", m.group(0), start)
                rest = text[m.end():]
        elif kind in ("field_name", "bracket") or (kind == "chord" and "]" not in text):
            self._emit("unclosed", "chord", start)   # read again as music after the "["
            rest = text[1:]
        else:
            self._emit(kind, text, start)
        if rest:
            self._refeed(rest, start + len(text) - len(rest))


# ----------------------------------------------------------------------------------------
# measuring bars

class Measure:
    """How long the bar being written is, in whole notes, as ABC counts it: each note's length
    times the unit, with tuplets and broken rhythm applied. A tuplet may run over a bar line, as
    the standard allows."""

    def __init__(self, meter: str, unit: Fraction):
        self.meter = meter
        self.bar_length = meter_length(meter)   # what the meter asks of a bar; None in free meter
        self.unit = Fraction(unit)
        self.length = Fraction(0)       # the current bar so far
        self.tuplet_left = 0            # notes the open tuplet still covers
        self.tuplet_factor = Fraction(1)
        self.broken: Fraction | None = None   # factor waiting for the second note of A>B
        self.last: Fraction | None = None     # the last note's length, when it is in this bar

    def copy(self) -> "Measure":
        twin = Measure.__new__(Measure)
        twin.__dict__.update(self.__dict__)
        return twin

    def duration(self, mult: Fraction = ONE) -> Fraction:
        """The length a note of this multiplier would have if it came now."""
        d = mult * self.unit if mult != 1 else self.unit
        if self.broken is not None:
            d *= self.broken
        if self.tuplet_left > 0:
            d *= self.tuplet_factor
        return d

    def note(self, mult: Fraction) -> Fraction:
        """Count a note, rest or chord; its length."""
        d = self.duration(mult)
        self.broken = None
        if self.tuplet_left > 0:
            self.tuplet_left -= 1
        self.length += d
        self.last = d
        return d

    def fill(self, bars: int = 1) -> None:
        """A multi-bar rest: Z fills its bar."""
        self.length = (self.bar_length or Fraction(0)) * bars

    def tuplet(self, text: str) -> int:
        """Start a tuplet ("(3"); its p."""
        p, self.tuplet_factor, self.tuplet_left = tuplet_ratio(text, self.meter)
        return p

    def broken_rhythm(self, text: str) -> bool:
        """A>B: lengthen the note before and shorten the next; False when no note of this bar
        comes before it."""
        if self.last is None:
            return False
        first, second = broken_factors(text[0], len(text))
        self.length += self.last * (first - 1)
        self.broken = second
        return True

    def close(self) -> Fraction:
        """End the bar; its length."""
        length, self.length, self.last = self.length, Fraction(0), None
        return length

    def set_field(self, letter: str, value: str) -> None:
        """An M: or L: field (already in canonical spelling) changes what follows."""
        if letter == "M":
            self.meter, self.bar_length = value, meter_length(value)
        elif letter == "L":
            self.unit = Fraction(value)
