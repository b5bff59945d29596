"""ABC notation tools: validation, repair and an abc2midi cross-check.

music21 happily reads much broken ABC (it re-bars overfull bars, turns an unknown key
into C major, reads prose as notes), so a parse without an exception proves little.
`validate` therefore also walks the tune body itself, as written (`abcgen.abc.scan`), measuring
every bar against the meter and keeping line/column positions for its messages.
"""
from __future__ import annotations

import bisect
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

from abcgen.abc import scan as abc_scan
from abcgen.abc.header import (KEY_HELP, field_line, header_fields, normalise, parse_key, parse_meter,
                               parse_tempo, parse_unit, strip_comment)
from abcgen.abc.reader import ending_numbers, is_section_delimiter
from abcgen.abc.scan import Bar, Scan
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
# validation

_UNIT_NAMES = {1: ("whole note", "whole notes"), 2: ("half", "halves"),
               4: ("quarter", "quarters"), 8: ("eighth", "eighths"),
               16: ("sixteenth", "sixteenths"), 32: ("thirty-second", "thirty-seconds"),
               64: ("sixty-fourth", "sixty-fourths")}


def _num(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _bar_message(bar: Bar) -> str:
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


def _short_bar_fits(bars: list[Bar], k: int, voice_idx: list[int], run_start: int) -> bool:
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
    if is_section_delimiter(b.right) and b.section < len(bars):
        start = bars[b.section]
        if start is not b and start.length + b.length == full:
            return True  # a part's last bar completes the part's own pickup
    for other in bars[k + 1:]:  # ... seen from the pickup's side
        if other.section == k and is_section_delimiter(other.right):
            if other.length + b.length == full:
                return True
            break
    if b.ending and 1 not in ending_numbers(b.ending) and b.before_endings is not None \
            and 0 <= b.before_endings < len(bars):
        if bars[b.before_endings].length + b.length == full:
            return True  # a second ending completes the bar before the first ending
    first = bars[run_start]
    if b.right != "|" and first is not b and first.length + b.length == full:
        return True  # a part ends short to make up for the tune's opening pickup
    return False


def _check_bars(scan: Scan) -> tuple[list[tuple[Bar, str]], int, int]:
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


def _header_problems(scan: Scan) -> list[Problem]:
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


def _bar_at(scan: Scan, pos: int) -> int | None:
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
    scan = abc_scan.scan(text)
    where = _Positions(text)
    problems = _header_problems(scan)
    for level, message, pos in scan.problems:
        line, col = where(pos)
        problems.append(Problem(level, message, _bar_at(scan, pos), line, col))
    if scan.has_key and scan.notes == 0:
        line, _ = where(min(scan.body_start, len(text)))   # a tune that ends at its K: line has no body line
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
    scan = abc_scan.scan(text)
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
            scan = abc_scan.scan(text)

    # a |: with no music after it opens nothing: keep only its closing part
    if scan.repeat_opens and not any(b.start >= scan.repeat_opens[-1] for b in scan.bars):
        bl = next(b for b in scan.barlines if b.start == scan.repeat_opens[-1])
        text = text[:bl.start] + (bl.text.rstrip(":") or ":|") + text[bl.end:]
        changes.append("removed a repeat sign |: with nothing after it")
        scan = abc_scan.scan(text)

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
