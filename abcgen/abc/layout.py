"""Where a tune's lines break, and which of its bars a musician keeps.

The model breaks lines wherever it likes, sometimes inside a bar (`A2Af e2` / `dc|`). Tune books
break at bar lines, four bars a line, and start each part on a new line; `layout` writes a
finished tune that way. It only moves line breaks and the spaces around them, so the notes, the
bars, their numbers and the validator's verdict stay as they were (a space or a line break between
two notes means the same: the beam is broken).

`kept_bars` cuts a tune after its first N bars (bars numbered as the validator and the score
number them: a pickup is bar 0), and `first_part` after its first part: what the page, the API and
the command line keep when a musician asks again for the rest of a tune.
"""
from __future__ import annotations

import re

from abcgen.abc.header import field_line
from abcgen.abc.reader import is_section_delimiter
from abcgen.abc.scan import Bar, scan
from abcgen.errors import FieldError

BARS_A_LINE = 4
_JOIN = re.compile(r"([|:\]]?)[ \t]*\n[ \t]*")


def _one_line(text: str) -> str:
    """Text with its line breaks taken out: a space between notes (the beam stays broken), nothing
    after a bar line."""
    return _JOIN.sub(lambda m: m.group(1) or " ", text)


def _plain_body(body: str) -> bool:
    """Only notes and bar lines: no comments, field lines, continuations or voices, whose lines
    mean something of their own and are left as written."""
    return not any(c in body for c in "%\\&") and not any(field_line(line.strip()) for line in body.split("\n"))


def _breaks(bars: list[Bar], keep_at: int, kept_text: str, per_line: int) -> list[int]:
    """Offsets (in the whole tune) after which a line ends: after every `per_line` full bars and at
    the end of each part, never right before an ending ("|2"), never inside the kept text."""
    line_start = keep_at - (len(kept_text) - kept_text.rfind("\n") - 1) if "\n" in kept_text else -1
    count, out = 0, []
    for i, bar in enumerate(bars):
        if not bar.right:
            continue
        cut = bar.end + len(bar.right)
        following = bars[i + 1] if i + 1 < len(bars) else None
        if cut <= line_start:
            continue
        count += bar.number != 0
        if following is not None and following.ending:
            continue
        if count >= per_line or is_section_delimiter(bar.right):
            if cut >= keep_at:
                out.append(cut)
            count = 0
    return out


def layout(abc: str, keep: int = 0, per_line: int = BARS_A_LINE) -> str:
    """The tune with its body's lines broken at bar lines, `per_line` bars a line and each part on
    a line of its own. The first `keep` characters of the body (an opening the musician wrote or
    kept) stay exactly as they are. A body with comments, field lines or voices is left alone."""
    s = scan(abc)
    head, body = abc[:s.body_start], abc[s.body_start:]
    keep = min(max(keep, 0), len(body))
    if not s.bars or not _plain_body(body[keep:]) or any(b.voice for b in s.bars):
        return abc
    keep_at = s.body_start + keep
    cuts = _breaks(s.bars, keep_at, body[:keep], per_line)
    bounds = [keep_at, *cuts, len(abc)]
    lines = [_one_line(abc[a:b]).strip(" \t\n") for a, b in zip(bounds, bounds[1:])]
    on_kept_line = bool(keep) and not body[:keep].endswith("\n")
    if on_kept_line:              # the first piece goes on, or closes, a line the musician wrote
        lines[0] = _one_line(abc[bounds[0]:bounds[1]]).rstrip(" \t\n")
    first, rest = lines[0], [line for line in lines[1:] if line]   # an empty line would end the tune
    text = "\n".join([first, *rest] if on_kept_line or first else rest)
    return head + body[:keep] + text + "\n"


# --------------------------------------------------------------------------- keeping bars

def _numbered(abc: str) -> tuple[int, list[Bar]]:
    s = scan(abc)
    return s.body_start, [b for b in s.bars if b.right and not b.voice]


def bar_count(abc: str) -> int:
    """The number of the tune's last bar closed by a bar line."""
    return max((b.number for b in _numbered(abc)[1]), default=0)


def kept_bars(abc: str, n: int) -> str:
    """The tune's body up to and including the bar line that closes bar `n`, byte for byte.
    Refused (FieldError on "keep") when the tune has no bar `n` or would be kept whole."""
    body_start, bars = _numbered(abc)
    last = bar_count(abc)
    if not isinstance(n, int) or n < 1:
        raise FieldError("keep_bars", "give the number of the last bar to keep, from 1 up")
    if n >= last:
        raise FieldError("keep_bars", f"the tune has {last} bars; keep fewer than that, so there is a rest to "
                                 "write again" if last else "the tune has no complete bar to keep")
    bar = next(b for b in bars if b.number == n)
    end = bar.end + len(bar.right)
    return abc[body_start:end]


def first_part(abc: str) -> str:
    """The tune's body through the end of its first part (a repeat sign or double bar line)."""
    body_start, bars = _numbered(abc)
    for i, bar in enumerate(bars):
        following = bars[i + 1] if i + 1 < len(bars) else None
        if is_section_delimiter(bar.right) and not (following and following.ending) and following:
            return abc[body_start:bar.end + len(bar.right)]
    raise FieldError("keep_bars", "the tune has only one part (no repeat sign or double bar line ends a part "
                             "before its end); choose a bar to keep instead")
