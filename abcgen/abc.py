"""ABC notation tools: validation, repair and an abc2midi cross-check.

music21 happily reads much broken ABC (it re-bars overfull bars, turns an unknown key
into C major, reads prose as notes), so a parse without an exception proves little.
`validate` therefore also walks the tune body itself, as written, measuring every bar
against the meter and keeping line/column positions for its messages.
"""
from __future__ import annotations

import bisect
import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

from abcgen.abc_fields import (KEY_HELP, default_unit, field_line, header_fields, is_clef_token, meter_length,
                               normalise, parse_key, parse_meter, parse_tempo, parse_unit, strip_comment)
from abcgen.errors import FieldError

# ----------------------------------------------------------------------------------------
# report types

@dataclass
class Problem:
    """One thing wrong with a tune, in a musician's words, with where it is."""
    level: str  # "error" or "warning"
    message: str
    bar: int | None = None  # bar number as written, from 1 (a pickup before bar 1 is 0)
    line: int | None = None  # 1-based line in the tune text
    col: int | None = None  # 1-based column


@dataclass
class Report:
    """What `validate` found."""
    problems: list[Problem] = field(default_factory=list)
    parsed: bool = False
    bars_checked: int = 0
    bars_ok: int = 0

    @property
    def valid(self) -> bool:
        return self.parsed and not self.errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    def to_dict(self) -> dict:
        return {"valid": self.valid, "parsed": self.parsed, "bars_checked": self.bars_checked,
                "bars_ok": self.bars_ok, "problems": [asdict(p) for p in self.problems]}

    def text(self) -> str:
        if not self.problems:
            return f"OK: {self.bars_checked} bars, all the right length"
        out = []
        for p in self.problems:
            where = []
            if p.line is not None:
                where.append(f"line {p.line}")
            if p.col is not None:
                where.append(f"column {p.col}")
            loc = f" ({', '.join(where)})" if where else ""
            out.append(f"{p.level}{loc}: {p.message}")
        return "\n".join(out)


# ----------------------------------------------------------------------------------------
# walking the body

NOTE_RE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)(\d*)(/*)(\d*)")
_REST_RE = re.compile(r"([zx])(\d*)(/*)(\d*)")
_MREST_RE = re.compile(r"([ZX])(\d*)")
_LEN_RE = re.compile(r"(\d*)(/*)(\d*)")
_BAR_RE = re.compile(r":*(?:\[\||\|)[|\]]*(?::+(?!\|))?|::+")
_ENDING_RE = re.compile(r"\d+(?:[,-]\d+)*")
_TUPLET_RE = re.compile(r"\((\d+)(?::(\d*))?(?::(\d*))?")
_INLINE_FIELD_RE = re.compile(r"\[([A-Za-z]):([^\]\n]*)\]")
_NOTE_LETTERS = set("ABCDEFGabcdefg")
DECORATION_LETTERS = set("HLMOPSTuvk")  # the usual one-letter decorations, stackable
_TEXT_GROUP_RE = re.compile(r"[^A-Ga-gzxZXy]+")
_AFTER_DECORATION = set("^_=[{(!\"~.|:")
_IGNORED = set(" \t\\`$*;")  # spacing, beaming, line continuation, score line break


def length_multiplier(num: str, slashes: str, den: str) -> Fraction | None:
    """A note-length multiplier (A2, A/, A3/2, A//); None when it divides by zero."""
    n = int(num) if num else 1
    if not slashes:
        return Fraction(n)
    d = int(den) * 2 ** (len(slashes) - 1) if den else 2 ** len(slashes)
    return Fraction(n, d) if d else None


def _ending_numbers(label: str) -> set[int]:
    nums: set[int] = set()
    for part in label.split(","):
        a, _, b = part.partition("-")
        if a.isdigit():
            nums.update(range(int(a), int(b if b.isdigit() else a) + 1))
    return nums


@dataclass
class _Bar:
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
class _Barline:
    text: str
    start: int
    end: int


@dataclass
class _Scan:
    """Everything one walk through a tune finds."""
    fields: list[tuple[str, str, int]]
    body_start: int  # offset of the first body character
    has_key: bool
    bars: list[_Bar] = field(default_factory=list)
    barlines: list[_Barline] = field(default_factory=list)
    problems: list[tuple[str, str, int]] = field(default_factory=list)  # level, message, offset
    open_ending: int | None = None  # offset of a first ending never closed with :|
    repeat_opens: list[int] = field(default_factory=list)  # offsets of unclosed |: marks
    unclosed: list[int] = field(default_factory=list)  # offsets of unclosed [ " { ! symbols
    music_end: int = 0  # offset just after the last symbol of music
    notes: int = 0


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
        self.scan = _Scan(fields, self.line_starts[min(body_line, len(lines))],
                          any(k == "K" for k, _, _ in fields))
        self.meter = "none"
        self.unit: Fraction | None = None
        self.voice = ""
        self._header_state(fields)

    # --- helpers ---------------------------------------------------------------------

    def problem(self, level: str, message: str, pos: int):
        self.scan.problems.append((level, message, pos))

    def unclosed(self, level: str, message: str, pos: int):
        """A symbol left open, as a tune cut off mid-symbol leaves it."""
        self.problem(level, message, pos)
        self.scan.unclosed.append(pos)

    def _header_state(self, fields):
        meter, unit = None, None
        for letter, value, _ in fields:
            try:
                if letter == "M" and meter is None:
                    meter = parse_meter(value)
                elif letter == "L" and unit is None:
                    unit = parse_unit(value)
            except FieldError:
                pass  # reported by validate's header check
        self.meter = meter or "none"
        self.unit = Fraction(unit if unit is not None else default_unit(self.meter))

    def _new_bar_state(self, left: str, start: int):
        self.cur_len = Fraction(0)
        self.cur_pos: int | None = None  # first note
        self.cur_first: int | None = None  # first symbol of any kind
        self.cur_left = left
        self.cur_start = start
        self.cur_ending = ""
        self.cur_mrest = 0
        self.cur_overlay = False

    # --- main walk -------------------------------------------------------------------

    def walk(self) -> _Scan:
        self.bar_no = 1
        self.voice_bars: dict[str, int] = {}
        self.voices_seen: set[str] = set()
        self.section = 0
        self.before_endings: int | None = None
        self.tuplet_left = 0
        self.tuplet_factor = Fraction(1)
        self.broken: Fraction | None = None
        self.last_dur: Fraction | None = None
        self.last_in_bar = False
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
            if letter == "M":
                self.meter = parse_meter(value)
            elif letter == "L":
                self.unit = Fraction(parse_unit(value))
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
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            pos = base + i
            if c == "%":
                break
            if c in _IGNORED:
                i += 1
                continue
            if self.cur_first is None:
                self.cur_first = pos
            if c == '"':
                j = line.find('"', i + 1)
                if j < 0:
                    self.unclosed("error", "a quoted chord symbol or annotation is never "
                                           "closed with \"", pos)
                    break
                i = j + 1
                continue
            if c in "!+":
                j = line.find(c, i + 1)
                if j < 0:
                    self.unclosed("warning", f"a decoration {c}...{c} is never closed", pos)
                    i += 1
                else:
                    i = j + 1
                continue
            if c == "[":
                m = _INLINE_FIELD_RE.match(line, i)
                if m:
                    self.field(m.group(1), m.group(2).strip(), pos)
                    i = m.end()
                    continue
                if re.match(r"\[[A-Za-z]:", line[i:i + 3]):
                    self.unclosed("error", "an inline field [X:...] is never closed with ]",
                                  pos)
                    break
                m = _ENDING_RE.match(line, i + 1)
                if m:
                    self.start_ending(m.group(0), pos)
                    i = m.end()
                    continue
            m = _BAR_RE.match(line, i) if c in "|:[" else None
            if m:
                i = self.bar_line(line, m, base)
                continue
            if c == "[":
                i = self.chord(line, i, base)
                continue
            if c == "{":
                j = line.find("}", i + 1)
                if j < 0:
                    self.unclosed("error", "grace notes opened with { are never closed "
                                           "with }", pos)
                    break
                i = j + 1  # grace notes take no time
                continue
            if c == "(":
                m = _TUPLET_RE.match(line, i)
                if m:
                    self.start_tuplet(m, pos)
                    i = m.end()
                else:
                    self.slurs.append(pos)
                    i += 1
                continue
            if c == ")":
                if self.slurs:
                    self.slurs.pop()
                else:
                    self.problem("warning", "a slur is closed with ) but was never opened",
                                 pos)
                i += 1
                continue
            if c == "-":
                if self.last_dur is None:
                    self.problem("warning", "a tie - does not follow a note", pos)
                self.tie_at = pos
                i += 1
                continue
            if c in "<>":
                j = i
                while j < n and line[j] == c:
                    j += 1
                self.broken_rhythm(c, j - i, pos)
                i = j
                continue
            if c in "^_=" or c in _NOTE_LETTERS:
                m = NOTE_RE.match(line, i)
                if m:
                    mult = length_multiplier(m.group(4), m.group(5), m.group(6))
                    self.note(mult, pos, m.group(0))
                    i = m.end()
                    continue
                self.unclosed("error", f"an accidental {c} is not followed by a note", pos)
                i += 1
                continue
            if c in "zx":
                m = _REST_RE.match(line, i)
                self.note(length_multiplier(m.group(2), m.group(3), m.group(4)), pos, m.group(0))
                i = m.end()
                continue
            if c in "ZX":
                m = _MREST_RE.match(line, i)
                self.cur_mrest = max(1, int(m.group(2) or 1))
                if self.cur_pos is None:
                    self.cur_pos = pos
                i = m.end()
                continue
            if c.isalpha():
                i = self.letters(line, i, pos)
                continue
            if c in "~.":
                i += 1
                continue
            if c == "&":
                self.cur_overlay = True
                i += 1
                continue
            if c.isdigit():
                j = i
                while j < n and (line[j].isdigit() or line[j] in "/"):
                    j += 1
                self.problem("error", f"unexpected number {line[i:j]!r} that belongs to "
                                      "no note", pos)
                i = j
                continue
            self.problem("warning", f"unexpected character {c!r}", pos)
            i += 1

    def letters(self, line: str, i: int, pos: int) -> int:
        """Letters other than notes and rests are one-letter decorations (T trill, u
        up-bow); several unusual ones in a row, or one that leads to no note, are text
        rather than music. Returns where to go on."""
        if i > 0 and line[i - 1].isalpha():
            return i + 1  # inside a word already judged to be music
        j = i
        while j < len(line) and line[j].isalpha():
            j += 1
        word = line[i:j]
        follow = line[j] if j < len(line) else ""
        odd = [g for g in _TEXT_GROUP_RE.findall(word) if not set(g) <= DECORATION_LETTERS]
        if not (any(len(g) > 1 for g in odd)
                or (odd and word.endswith(odd[-1]) and follow not in _AFTER_DECORATION)):
            return i + 1
        while j < len(line) and (line[j].isdigit() or line[j] == "/"):
            j += 1
        self.problem("error", f"unexpected text {word!r}: the tune body may hold only notes, "
                              "bar lines and ABC symbols (put words in a \"quoted\" "
                              "annotation or a % comment)", pos)
        return j

    # --- musical events --------------------------------------------------------------

    def note(self, mult: Fraction | None, pos: int, src: str):
        if mult is None:
            self.problem("error", f"the note length in {src!r} divides by zero", pos)
            mult = Fraction(1)
        if mult == 0:
            self.problem("error", f"the note {src!r} has zero length", pos)
        dur = mult * self.unit
        if self.broken is not None:
            dur *= self.broken
            self.broken = None
        if self.tuplet_left > 0:
            dur *= self.tuplet_factor
            self.tuplet_left -= 1
        self.cur_len += dur
        if self.cur_pos is None:
            self.cur_pos = pos
        self.last_dur = dur
        self.last_in_bar = True
        self.tie_at = None
        self.scan.notes += 1

    def chord(self, line: str, i: int, base: int) -> int:
        j = i + 1
        while j < len(line) and line[j] not in "]|":
            j += 1
        if j >= len(line) or line[j] != "]":
            self.unclosed("error", "a chord opened with [ is never closed with ]", base + i)
            return i + 1
        inner = re.sub(r'"[^"]*"|![^!]*!', "", line[i + 1:j])
        first = NOTE_RE.search(inner)
        m = _LEN_RE.match(line, j + 1)
        if first is None:
            self.problem("error", f"the chord {line[i:j + 1]!r} has no notes", base + i)
            return m.end()
        inner_len = length_multiplier(first.group(4), first.group(5), first.group(6))
        outer = length_multiplier(m.group(1), m.group(2), m.group(3))
        mult = None if inner_len is None or outer is None else inner_len * outer
        self.note(mult, base + i, line[i:m.end()])
        return m.end()

    def start_tuplet(self, m: re.Match, pos: int):
        p = int(m.group(1))
        if p < 2 or p > 9:
            self.problem("warning", f"a tuplet ({p} is unusual; tuplets run from (2 to (9",
                         pos)
        compound = meter_length(self.meter) is not None and self.meter not in ("C", "C|") \
            and int(self.meter.split("/")[0].split("+")[0]) in (6, 9, 12)
        default_q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound else 2)
        q = int(m.group(2)) if m.group(2) else default_q
        r = int(m.group(3)) if m.group(3) else p
        self.tuplet_factor = Fraction(q, p) if p else Fraction(1)
        self.tuplet_left = r
        self.tuplet_at = pos

    def broken_rhythm(self, c: str, count: int, pos: int):
        if self.last_dur is None or not self.last_in_bar:
            self.problem("warning", f"broken rhythm {c * count} does not follow a note", pos)
            return
        short = Fraction(1, 2 ** count)
        left, right = (2 - short, short) if c == ">" else (short, 2 - short)
        self.cur_len += self.last_dur * (left - 1)
        self.broken = right
        self.broken_at = pos

    def start_ending(self, label: str, pos: int):
        if 1 in _ending_numbers(label):
            self.scan.open_ending = pos
            self.before_endings = len(self.scan.bars) - 1
        self.cur_ending = label

    def bar_line(self, line: str, m: re.Match, base: int) -> int:
        tok = m.group(0)
        start, end = base + m.start(), base + m.end()
        ends_repeat = tok.startswith(":")
        starts_repeat = tok.endswith(":")
        self.scan.barlines.append(_Barline(tok, start, end))
        self.close_bar(tok, start)
        self.cur_start = end
        if ends_repeat or tok in ("||", "|]", "[|"):
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
        i = m.end()
        e = _ENDING_RE.match(line, i)
        if e:
            self.start_ending(e.group(0), base + i)
            i = e.end()
        return i

    def close_bar(self, right: str, pos: int):
        if self.cur_pos is not None:
            expected = meter_length(self.meter)
            # musicians count from the first full bar: a pickup is bar 0
            pickup = self.voice not in self.voices_seen and expected is not None \
                and self.cur_len < expected and not self.cur_mrest
            self.voices_seen.add(self.voice)
            self.scan.bars.append(_Bar(
                number=0 if pickup else self.bar_no, length=self.cur_len,
                expected=expected, meter=self.meter, unit=self.unit,
                voice=self.voice, left=self.cur_left, right=right, ending=self.cur_ending,
                pos=self.cur_first if self.cur_first is not None else self.cur_pos,
                start=self.cur_start, end=pos, section=self.section,
                before_endings=self.before_endings, multirest=self.cur_mrest > 0,
                overlay=self.cur_overlay))
            if not pickup:
                self.bar_no += max(1, self.cur_mrest)
            self.last_in_bar = False
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
        if self.broken is not None:
            self.unclosed("warning", "a broken rhythm > or < leads to no note", self.broken_at)
        if self.tuplet_left > 0:
            self.unclosed("warning", "a tuplet is missing notes at the end", self.tuplet_at)
        for pos in self.slurs:
            self.problem("warning", "a slur opened with ( is never closed with )", pos)


def _scan(text: str) -> _Scan:
    return _Walker(text).walk()


# ----------------------------------------------------------------------------------------
# validation

_UNIT_NAMES = {1: ("whole note", "whole notes"), 2: ("half", "halves"),
               4: ("quarter", "quarters"), 8: ("eighth", "eighths"),
               16: ("sixteenth", "sixteenths"), 32: ("thirty-second", "thirty-seconds"),
               64: ("sixty-fourth", "sixty-fourths")}


def _num(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _bar_message(bar: _Bar) -> str:
    """'bar 7 has 7 eighths, 6/8 needs 6', counted in L units (or smaller when needed)."""
    unit = bar.unit
    while ((bar.length / unit).denominator != 1 or (bar.expected / unit).denominator != 1) \
            and unit.denominator < 64:
        unit /= 2
    if (bar.length / unit).denominator != 1 or (bar.expected / unit).denominator != 1:
        unit = bar.unit
    has, needs = bar.length / unit, bar.expected / unit
    one, many = _UNIT_NAMES.get(unit.denominator, (f"1/{unit.denominator}",) * 2)
    who = f"voice {bar.voice} bar" if bar.voice else "bar"
    return f"{who} {bar.number} has {_num(has)} {one if has == 1 else many}, " \
           f"{bar.meter} needs {_num(needs)}"


def _short_bar_fits(bars: list[_Bar], k: int, voice_idx: list[int], run_start: int) -> bool:
    """A short bar is fine when, next to a repeat, ending or double bar, it makes a
    full bar together with its partner (the pickup-completion rules)."""
    b = bars[k]
    full = b.expected
    pos = voice_idx.index(k)
    prev = bars[voice_idx[pos - 1]] if pos > 0 else None
    nxt = bars[voice_idx[pos + 1]] if pos + 1 < len(voice_idx) else None
    if nxt and (b.right != "|" or nxt.ending) and b.length + nxt.length == full:
        return True  # a short bar and the pickup after a double bar or repeat
    if prev and (b.left != "|" or b.ending) and prev.length + b.length == full:
        return True
    if b.right.startswith(":") and b.section < len(bars):
        start = bars[b.section]
        if start is not b and start.length + b.length == full:
            return True  # the last bar of a repeat completes the repeat's pickup
    for other in bars[k + 1:]:  # ... seen from the pickup's side
        if other.section == k and other.right.startswith(":"):
            if other.length + b.length == full:
                return True
            break
    if b.ending and 1 not in _ending_numbers(b.ending) and b.before_endings is not None \
            and 0 <= b.before_endings < len(bars):
        if bars[b.before_endings].length + b.length == full:
            return True  # a second ending completes the bar before the first ending
    first = bars[run_start]
    if b.right != "|" and first is not b and first.length + b.length == full:
        return True  # a part ends short to make up for the tune's opening pickup
    return False


def _check_bars(scan: _Scan) -> tuple[list[tuple[_Bar, str]], int, int]:
    """Bars of the wrong length (with "error" or "warning"), how many bars were
    checked, and how many of those had the right length."""
    wrong, checked, ok = [], 0, 0
    voices: dict[str, list[int]] = {}
    for k, b in enumerate(scan.bars):
        voices.setdefault(b.voice, []).append(k)
    for idx in voices.values():
        run_start = idx[0]
        for n, k in enumerate(idx):
            b = scan.bars[k]
            prev = scan.bars[idx[n - 1]] if n else None
            new_meter = prev is None or prev.expected != b.expected
            if new_meter:
                run_start = k
            if b.expected is None or b.multirest or b.overlay:
                continue
            short = b.length < b.expected
            if short and (new_meter or n == len(idx) - 1):
                continue  # a pickup (also after a meter change), or the final bar
            checked += 1
            if b.length == b.expected or (short and _short_bar_fits(scan.bars, k, idx,
                                                                    run_start)):
                ok += 1
            elif short and b.left not in ("", "|") and not b.ending \
                    and prev.length == prev.expected:
                wrong.append((b, "warning"))  # a pickup to a new part after a full bar
            else:
                wrong.append((b, "error"))
    return wrong, checked, ok


def _music21_error(text: str) -> str | None:
    """None when music21 reads the tune; otherwise why not, in a sentence.

    Runs music21's ABC reader (tokens, durations, pitches) but not the stream building
    after it: that step costs ~35 ms a tune, and on the folk corpus and on broken tunes
    it raised only where the reader already had."""
    from music21 import abcFormat
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            abcFormat.ABCHandler().process(text)
    except Exception as e:  # music21 raises many kinds; all mean the same to the user
        detail = (str(e).strip().splitlines() or [""])[0][:160]
        return f"music21 could not read the tune ({type(e).__name__}{': ' if detail else ''}" \
               f"{detail})"
    return None


class _Positions:
    """Offsets to 1-based line and column."""

    def __init__(self, text: str):
        self.starts = [0]
        for line in text.split("\n"):
            self.starts.append(self.starts[-1] + len(line) + 1)

    def __call__(self, pos: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, pos)
        return line, pos - self.starts[line - 1] + 1


def _header_problems(scan: _Scan) -> list[Problem]:
    out = []
    letters = {k for k, _, _ in scan.fields}
    parsers = {"M": parse_meter, "L": parse_unit, "K": parse_key, "Q": parse_tempo}
    for letter, value, li in scan.fields:
        if letter in parsers:
            try:
                parsers[letter](value)
            except FieldError as e:
                level = "warning" if letter == "Q" else "error"
                out.append(Problem(level, f"{letter}: {e.message}", line=li + 1, col=1))
    if "X" not in letters:
        out.append(Problem("warning", "no X: reference number; start the tune with X:1",
                           line=1, col=1))
    if "M" not in letters:
        out.append(Problem("warning", "no M: meter, so bar lengths were not checked; "
                                      "add one such as M:4/4", line=1, col=1))
    if "L" not in letters:
        out.append(Problem("warning", "no L: unit note length; the ABC standard default "
                                      "was used (1/8, or 1/16 for meters under 3/4)",
                           line=1, col=1))
    if "K" not in letters:
        out.append(Problem("error", "no K: key line; the header must end with one, "
                                    f"{KEY_HELP}", line=1, col=1))
    return out


def _bar_at(scan: _Scan, pos: int) -> int | None:
    for b in scan.bars:
        if b.start <= pos <= b.end:
            return b.number
    return None


def validate(abc: str) -> Report:
    """Check a tune: header fields, each bar's length as written, structure, and that
    music21 can read it. Never raises: every failure becomes a Problem."""
    report = Report()
    try:
        _validate(normalise(abc), report)
    except Exception as e:  # a checker bug must not take the caller down
        report.problems.append(Problem("error", f"the tune could not be checked ({e})"))
    return report


def _validate(text: str, report: Report) -> None:
    if not text.strip():
        report.problems.append(Problem("error", "the tune is empty"))
        return
    scan = _scan(text)
    where = _Positions(text)
    problems = _header_problems(scan)
    for level, message, pos in scan.problems:
        line, col = where(pos)
        problems.append(Problem(level, message, _bar_at(scan, pos), line, col))
    if scan.has_key and scan.notes == 0:
        line, _ = where(scan.body_start)
        problems.append(Problem("error", "the tune has no notes", line=line))
    wrong, report.bars_checked, report.bars_ok = _check_bars(scan)
    for b, level in wrong:
        line, col = where(b.pos)
        message = _bar_message(b)
        if level == "warning":
            message += " (a pickup to the next part, but the bar before it is already full)"
        problems.append(Problem(level, message, b.number, line, col))
    problems.sort(key=lambda p: (p.line or 0, p.col or 0))
    failure = _music21_error(text)
    report.parsed = failure is None
    if failure:
        problems.insert(0, Problem("error", failure))
    report.problems = problems


# ----------------------------------------------------------------------------------------
# repair

_HEADER_MOVABLE = set("ABCDFGHILMNOQRSTZmr")  # fields that mean the same before K:


def _fix_header(text: str, changes: list[str]) -> str:
    """X first, T next, other fields, then M, L, Q and K last."""
    lines = text.split("\n")
    fields, body_line = header_fields(lines)
    if not any(k == "K" for k, _, _ in fields):
        return text
    # field lines right after K: (before any music) belong to the header too
    end = body_line
    while end < len(lines):
        s = lines[end].strip()
        m = field_line(s)
        if s and not (m and m.group(1) in _HEADER_MOVABLE):
            break
        end += 1
    header = [ln for ln in lines[:end] if ln.strip()]
    first_line = next(i for i, ln in enumerate(lines) if ln.strip())

    def letter(ln: str) -> str:
        m = field_line(ln)
        return m.group(1) if m else ""

    order = {"X": 0, "T": 1, "M": 3, "L": 4, "Q": 5, "K": 6}
    new = sorted(header, key=lambda ln: order.get(letter(ln), 2))  # stable
    reordered = new != header
    if reordered:
        changes.append("put the header fields in the usual order (X, T, ..., M, L, Q, K last)")
    if not any(letter(ln) == "X" for ln in header):
        new.insert(0, "X:1")
        changes.append("added the reference number X:1")
    elif not reordered:
        return text
    return "\n".join(lines[:first_line] + new + lines[end:])


def _drop_cut_field(text: str, changes: list[str]) -> str:
    """A field line at the very end of the body that no longer reads (M:6/) was cut off."""
    lines = text.rstrip().split("\n")
    _, body_line = header_fields(lines)
    m = field_line(lines[-1]) if len(lines) > body_line else None
    parse = {"M": parse_meter, "L": parse_unit, "K": parse_key}.get(m.group(1)) if m else None
    if parse is None:
        return text
    try:
        parse(strip_comment(m.group(2)))
        return text
    except FieldError:
        changes.append(f"dropped the unfinished {m.group(1)}: line at the end")
        return "\n".join(lines[:-1]) + "\n"


def repair(abc: str) -> tuple[str, list[str]]:
    """Fix what can be fixed without changing the music; returns (text, changes)."""
    text = normalise(abc)
    changes: list[str] = []
    text = _fix_header(text, changes)
    text = _drop_cut_field(text, changes)
    scan = _scan(text)
    if not scan.has_key or scan.notes == 0:
        return (text if changes else abc), changes

    # an unfinished bar (or symbol) after the last bar line: a tune cut off by a length cap
    dropped = False
    if scan.barlines:
        cut = scan.barlines[-1].end
        tail_bars = [b for b in scan.bars if b.start >= cut]
        unfinished = any(pos >= cut for pos in scan.unclosed) or (
            not tail_bars and scan.open_ending is not None and scan.open_ending >= cut)
        short = False
        if tail_bars and tail_bars[-1].expected is not None and not tail_bars[-1].multirest:
            last, first = tail_bars[-1], scan.bars[0]
            pickup_pair = first is not last and first.length + last.length == last.expected
            # short, or overfull because the cut fell inside a note length ("^f/" -> "^f")
            short = last.length != last.expected and not pickup_pair and len(scan.bars) > 1
        if (short or unfinished) and scan.bars[0].start < cut:
            what = f"bar {tail_bars[-1].number}" if tail_bars else "an unfinished symbol"
            text = text[:cut].rstrip() + "\n"
            changes.append(f"dropped the incomplete last bar ({what})"
                           if tail_bars else "dropped an unfinished symbol at the end")
            dropped = True
            scan = _scan(text)

    # a |: with no music after it opens nothing: keep only its closing part
    if scan.repeat_opens and not any(b.start >= scan.repeat_opens[-1] for b in scan.bars):
        bl = next(b for b in scan.barlines if b.start == scan.repeat_opens[-1])
        text = text[:bl.start] + (bl.text.rstrip(":") or ":|") + text[bl.end:]
        changes.append("removed a repeat sign |: with nothing after it")
        scan = _scan(text)

    end = scan.music_end
    last_bl = scan.barlines[-1] if scan.barlines else None
    ends_with_bar = last_bl is not None and last_bl.end >= end
    if scan.repeat_opens or scan.open_ending is not None:
        what = "repeat" if scan.repeat_opens else "first ending"
        if ends_with_bar:
            text = text[:last_bl.start] + ":|" + text[last_bl.end:]
        else:
            text = text[:end] + " :|" + text[end:]
        changes.append(f"closed the {what} at the end with :|")
    elif not ends_with_bar:
        text = text[:end] + "|]" + text[end:]
        changes.append("added a final bar line")
    elif dropped and last_bl.text == "|":
        text = text[:last_bl.start] + "|]" + text[last_bl.end:]
    if not text.endswith("\n") and abc.endswith("\n"):
        text += "\n"
    return (text if changes else abc), changes


# ----------------------------------------------------------------------------------------
# abc2midi cross-check

_ABC2MIDI_NOISE = ("Sustained notes beyond end of track",)


def abc2midi_errors(abc: str, timeout: float = 10.0) -> list[str] | None:
    """abc2midi's error and warning lines for the tune (it always exits 0, so its output
    is what tells); None when abc2midi is not installed."""
    exe = shutil.which("abc2midi")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "tune.abc"
        src.write_text(normalise(abc))
        try:
            done = subprocess.run([exe, str(src), "-o", str(Path(tmp) / "tune.mid")],
                                  capture_output=True, text=True, encoding="utf-8", errors="replace",
                                  timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            return [f"abc2midi took longer than {timeout:g} s"]
    out = []
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        line = line.strip()
        if line.startswith(("Error", "Warning")) and not line.endswith(_ABC2MIDI_NOISE):
            out.append(line)
    return out
