"""One walk through a whole tune: its bars as written, with their lengths, bar lines, endings and
repeats, and the symbols that are wrong, with their offsets.

The validator and the repairs (`abcgen.abc.check`) judge a tune from this walk. It reads the body with
the same `Lexer` and `Measure` as the bar clock that guides the sampler, so the two agree on what
a note, a bar line or a tuplet is and how long a bar is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from abcgen.abc.header import (default_unit, field_line, header_fields, is_clef_token, meter_length,
                               parse_key, parse_meter, parse_tempo, parse_unit, strip_comment)
from abcgen.abc.reader import (DECORATION_LETTERS, INLINE_FIELD_RE, NOTE_RE, Lexer, Measure, Token,
                               chord_notes, ending_numbers, is_section_delimiter, multiplier)
from abcgen.errors import FieldError

_TEXT_GROUP_RE = re.compile(r"[^A-Ga-gzxZXy]+")
_AFTER_DECORATION = set("^_=[{(!\"~.|:")
_UNCLOSED = {  # group left open at a line's end -> (level, message)
    "quote": ("error", "a quoted chord symbol or annotation is never closed with \""),
    "field": ("error", "an inline field [X:...] is never closed with ]"),
    "chord": ("error", "a chord opened with [ is never closed with ]"),
    "grace": ("error", "grace notes opened with { are never closed with }"),
}


@dataclass
class Bar:
    """One bar as written."""
    number: int
    length: Fraction
    expected: Fraction | None
    meter: str
    unit: Fraction
    voice: str
    left: str  # bar line before it ("" at the start)
    right: str  # bar line after it ("" when the tune just stops)
    ending: str  # ending label started at its left ("1", "2", "1,3") or ""
    pos: int  # offset of its first symbol
    start: int  # offset just after its left bar line
    end: int  # offset of its right bar line (or end of text)
    section: int  # index of the first bar of its repeat section
    before_endings: int | None  # index of the bar before the first ending of its group
    multirest: bool = False
    overlay: bool = False


@dataclass
class BarLine:
    text: str
    start: int
    end: int


@dataclass
class Scan:
    """Everything one walk through a tune finds."""
    fields: list[tuple[str, str, int]]
    body_start: int  # offset of the first body character
    has_key: bool
    bars: list[Bar] = field(default_factory=list)
    barlines: list[BarLine] = field(default_factory=list)
    problems: list[tuple[str, str, int]] = field(default_factory=list)  # level, message, offset
    open_ending: int | None = None  # offset of a first ending never closed with :|
    repeat_opens: list[int] = field(default_factory=list)  # offsets of unclosed |: marks
    unclosed: list[int] = field(default_factory=list)  # offsets of unclosed [ " { ! symbols
    music_end: int = 0  # offset just after the last symbol of music
    notes: int = 0


def scan(text: str) -> Scan:
    """Walk a tune (header and body) once."""
    return _Walker(text).walk()


class _Walker:
    """Walks an ABC tune body once, measuring bars as written."""

    def __init__(self, text: str):
        lines = text.split("\n")
        self.line_starts = [0]
        for line in lines:
            self.line_starts.append(self.line_starts[-1] + len(line) + 1)
        fields, body_line = header_fields(lines)
        self.lines = lines
        self.body_line = body_line
        self.scan = Scan(fields, self.line_starts[min(body_line, len(lines))],
                         any(k == "K" for k, _, _ in fields))
        meter, unit = self._header_state(fields)
        self.measure = Measure(meter, unit)
        self.lexer = Lexer()
        self.voice = ""

    def problem(self, level: str, message: str, pos: int):
        self.scan.problems.append((level, message, pos))

    def unclosed(self, level: str, message: str, pos: int):
        """A symbol left open, as a tune cut off mid-symbol leaves it."""
        self.problem(level, message, pos)
        self.scan.unclosed.append(pos)

    @staticmethod
    def _header_state(fields) -> tuple[str, Fraction]:
        meter, unit = None, None
        for letter, value, _ in fields:
            try:
                if letter == "M" and meter is None:
                    meter = parse_meter(value)
                elif letter == "L" and unit is None:
                    unit = parse_unit(value)
            except FieldError:
                pass  # reported by validate's header check
        meter = meter or "none"
        return meter, Fraction(unit if unit is not None else default_unit(meter))

    def _new_bar_state(self, left: str, start: int):
        self.measure.close()
        self.cur_pos: int | None = None  # first note
        self.cur_first: int | None = None  # first symbol of any kind
        self.cur_left = left
        self.cur_start = start
        self.cur_ending = ""
        self.cur_mrest = 0
        self.cur_overlay = False

    # --- main walk -------------------------------------------------------------------

    def walk(self) -> Scan:
        self.bar_no = 1
        self.voice_bars: dict[str, int] = {}
        self.voices_seen: set[str] = set()
        self.section = 0
        self.before_endings: int | None = None
        self.tie_at: int | None = None
        self.slurs: list[int] = []
        self._new_bar_state("", self.scan.body_start)
        for li in range(self.body_line, len(self.lines)):
            line = self.lines[li]
            base = self.line_starts[li]
            s = line.strip()
            if not s or s.startswith("%"):
                continue
            m = field_line(s)
            if m:
                if m.group(1) == "X":
                    self.problem("warning", "the text holds more than one tune; only the "
                                            "first was checked", base)
                    break
                self.field(m.group(1), strip_comment(m.group(2)), base + line.find(s))
                continue
            self.walk_line(line, base)
        self.finish()
        return self.scan

    def field(self, letter: str, value: str, pos: int):
        """A field inside the body (own line or inline [M:3/4])."""
        try:
            if letter in "ML":
                self.measure.set_field(letter, (parse_meter if letter == "M" else parse_unit)(value))
            elif letter == "K":
                if not all(is_clef_token(t) for t in value.split()):
                    parse_key(value)
            elif letter == "Q":
                parse_tempo(value)
            elif letter == "V":
                self.close_bar("", pos)
                self.voice_bars[self.voice] = self.bar_no
                self.voice = (value.split() or [""])[0]
                self.bar_no = self.voice_bars.get(self.voice, 1)
                self.section = len(self.scan.bars)
        except FieldError as e:
            level = "warning" if letter == "Q" else "error"
            self.problem(level, f"{letter}: {e.message}", pos)

    def walk_line(self, line: str, base: int):
        music = line.split("%", 1)[0].rstrip() if "%" in line else line.rstrip()
        if music.strip():
            self.scan.music_end = base + len(music)
        skip_to = 0  # tokens before this offset belong to a word already judged to be text
        for tok in self.lexer.line(line, base):
            if tok.kind in ("space", "comment") or tok.start < skip_to:
                continue
            if self.cur_first is None and not (tok.kind == "ending" and tok.text[0] != "["):
                self.cur_first = tok.start    # a bar begins at its first symbol after "|1" 
            skip_to = self.token(tok, line, base) or skip_to

    def token(self, tok: Token, line: str, base: int) -> int | None:
        """Handle one token; an offset to skip to when the rest of a word is text."""
        kind, text, pos = tok
        if kind == "unclosed":
            level, message = _UNCLOSED.get(text, ("warning", None))
            self.unclosed(level, message or f"a decoration {line[pos - base]}...{line[pos - base]} "
                                            "is never closed", pos)
        elif kind == "field":
            m = INLINE_FIELD_RE.fullmatch(text)
            self.field(m.group(1), m.group(2).strip(), pos)
        elif kind == "ending":
            self.start_ending(text.lstrip("["), pos)
        elif kind == "bar":
            self.bar_line(text, pos)
        elif kind == "chord":
            if NOTE_RE.search(chord_notes(text)) is None:
                self.problem("error", f"the chord {text[:text.rindex(']') + 1]!r} has no notes", pos)
            else:
                self.note(multiplier(tok), pos, text)
        elif kind == "tuplet":
            self.start_tuplet(text, pos)
        elif kind == "slur":
            self.slurs.append(pos)
        elif kind == "slur_end":
            if self.slurs:
                self.slurs.pop()
            else:
                self.problem("warning", "a slur is closed with ) but was never opened", pos)
        elif kind == "tie":
            if self.scan.notes == 0:
                self.problem("warning", "a tie - does not follow a note", pos)
            self.tie_at = pos
        elif kind == "broken":
            if self.measure.broken_rhythm(text):
                self.broken_at = pos
            else:
                self.problem("warning", f"broken rhythm {text} does not follow a note", pos)
        elif kind in ("note", "rest"):
            self.note(multiplier(tok), pos, text)
        elif kind == "accidental":
            self.unclosed("error", f"an accidental {text[0]} is not followed by a note", pos)
        elif kind == "multirest":
            self.cur_mrest = max(1, int(text[1:] or 1))
            if self.cur_pos is None:
                self.cur_pos = pos
        elif kind == "letter":
            return self.letters(line, pos - base, pos)
        elif kind == "overlay":
            self.cur_overlay = True
        elif kind == "number":
            self.problem("error", f"unexpected number {text!r} that belongs to no note", pos)
        elif kind == "stray":
            self.problem("warning", f"unexpected character {text!r}", pos)
        return None  # grace notes and decorations take no time

    def letters(self, line: str, i: int, pos: int) -> int | None:
        """Letters other than notes and rests are one-letter decorations (T trill, u
        up-bow); several unusual ones in a row, or one that leads to no note, are text
        rather than music. Returns the offset the text runs to."""
        if i > 0 and line[i - 1].isalpha():
            return None  # inside a word already judged to be music
        j = i
        while j < len(line) and line[j].isalpha():
            j += 1
        word = line[i:j]
        follow = line[j] if j < len(line) else ""
        odd = [g for g in _TEXT_GROUP_RE.findall(word) if not set(g) <= DECORATION_LETTERS]
        if not (any(len(g) > 1 for g in odd)
                or (odd and word.endswith(odd[-1]) and follow not in _AFTER_DECORATION)):
            return None
        while j < len(line) and (line[j].isdigit() or line[j] == "/"):
            j += 1
        self.problem("error", f"unexpected text {word!r}: the tune body may hold only notes, "
                              "bar lines and ABC symbols (put words in a \"quoted\" "
                              "annotation or a % comment)", pos)
        return pos - i + j

    # --- musical events --------------------------------------------------------------

    def note(self, mult: Fraction | None, pos: int, src: str):
        if mult is None:
            self.problem("error", f"the note length in {src!r} divides by zero", pos)
            mult = Fraction(1)
        if mult == 0:
            self.problem("error", f"the note {src!r} has zero length", pos)
        self.measure.note(mult)
        if self.cur_pos is None:
            self.cur_pos = pos
        self.tie_at = None
        self.scan.notes += 1

    def start_tuplet(self, text: str, pos: int):
        p = self.measure.tuplet(text)
        if p < 2 or p > 9:
            self.problem("warning", f"a tuplet ({p} is unusual; tuplets run from (2 to (9", pos)
        self.tuplet_at = pos

    def start_ending(self, label: str, pos: int):
        if 1 in ending_numbers(label):
            self.scan.open_ending = pos
            self.before_endings = len(self.scan.bars) - 1
        self.cur_ending = label

    def bar_line(self, tok: str, start: int):
        end = start + len(tok)
        ends_repeat = tok.startswith(":")
        starts_repeat = tok.endswith(":")
        self.scan.barlines.append(BarLine(tok, start, end))
        self.close_bar(tok, start)
        self.cur_start = end
        if is_section_delimiter(tok):
            self.section = len(self.scan.bars)  # where the next repeat goes back to
        if ends_repeat:
            if self.scan.repeat_opens:
                self.scan.repeat_opens.pop()
            self.scan.open_ending = None
        if starts_repeat:
            if self.scan.repeat_opens:
                self.problem("error", "a repeat opened with |: is never closed with :| "
                                      "(another |: comes first)",
                             self.scan.repeat_opens.pop())
            self.scan.repeat_opens.append(start)
            self.section = len(self.scan.bars)

    def close_bar(self, right: str, pos: int):
        if self.cur_pos is not None:
            expected = meter_length(self.measure.meter)
            length = self.measure.length
            # musicians count from the first full bar: a pickup is bar 0
            pickup = self.voice not in self.voices_seen and expected is not None \
                and length < expected and not self.cur_mrest
            self.voices_seen.add(self.voice)
            self.scan.bars.append(Bar(
                number=0 if pickup else self.bar_no, length=length,
                expected=expected, meter=self.measure.meter, unit=self.measure.unit,
                voice=self.voice, left=self.cur_left, right=right, ending=self.cur_ending,
                pos=self.cur_first if self.cur_first is not None else self.cur_pos,
                start=self.cur_start, end=pos, section=self.section,
                before_endings=self.before_endings, multirest=self.cur_mrest > 0,
                overlay=self.cur_overlay))
            if not pickup:
                self.bar_no += max(1, self.cur_mrest)
            self._new_bar_state(right, pos)
        else:
            ending = self.cur_ending
            self._new_bar_state(right or self.cur_left, pos)
            self.cur_ending = ending

    def finish(self):
        self.close_bar("", self.scan.music_end)
        for pos in self.scan.repeat_opens:
            self.problem("error", "a repeat opened with |: is never closed with :|", pos)
        if self.scan.open_ending is not None:
            self.problem("error", "a first ending is never closed with :|",
                         self.scan.open_ending)
        if self.tie_at is not None:
            self.problem("warning", "a tie - leads to no note", self.tie_at)
        if self.measure.broken is not None:
            self.unclosed("warning", "a broken rhythm > or < leads to no note", self.broken_at)
        if self.measure.tuplet_left > 0:
            self.unclosed("warning", "a tuplet is missing notes at the end", self.tuplet_at)
        for pos in self.slurs:
            self.problem("warning", "a slur opened with ( is never closed with )", pos)
