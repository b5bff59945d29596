"""What a sampler is asked for, checked before any sampling: the header fields, the sampling
settings and the opening, each with its limits. A value that cannot be used raises FieldError
naming its field, in words a musician can act on.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from abcgen.abc import header as abcfields
from abcgen.errors import FieldError
from abcgen.learn.vocab import Vocab
from abcgen.tune_types import ALIASES, TUNE_TYPES

MAX_CANDIDATES = 16      # hard cap on candidates per request
MAX_CHARS = 3000         # hard cap on characters the model may write per tune
MAX_OPENING = 1000       # characters of opening a user may type
MAX_TITLE = 200


@dataclass(frozen=True)
class Header:
    """Validated header fields. Meter, unit and key reach the model; tempo and title only the page."""
    meter: str = "4/4"
    unit: str = "1/8"
    key: str = "D"
    tempo: str | None = None
    title: str = ""
    x: int = 1
    kind: str = ""      # the tune type (R:), as the tune-type table names it; "" for none
    key_as_typed: str = ""   # the key as the musician spelled it ("Em"), shown in the tune; `key` is canonical

    @classmethod
    def parse(cls, meter="4/4", unit="1/8", key="D", tempo=None, title="", x=1, kind="") -> "Header":
        """Check every field; a bad one raises FieldError naming it."""
        title = "" if title is None else str(title)
        if len(title) > MAX_TITLE:
            raise FieldError("title", f"is {len(title)} characters long; keep it under {MAX_TITLE}")
        if any(not c.isprintable() for c in title):
            raise FieldError("title", "must be one line of text without control characters")
        try:
            x = int(str(x).strip() or "1")
        except ValueError:
            raise FieldError("x", f"{str(x)[:20]!r} is not a whole number; use e.g. 1") from None
        if not 0 <= x <= 10**9:
            raise FieldError("x", "must be a whole number between 0 and 1000000000")
        return cls(meter=abcfields.parse_meter(str(meter or "")), unit=abcfields.parse_unit(str(unit or "")),
                   key=abcfields.parse_key(str(key or "")),
                   tempo=abcfields.parse_tempo(str(tempo)) if tempo not in (None, "") else None,
                   title=title.strip(), x=x, kind=type_name(kind), key_as_typed=_as_typed(key))

    def prompt(self) -> str:
        """The header in the training text's own spelling (`abcgen.learn.data`): no tempo, `M:C` as
        4/4. The musician's spelling stays in `full`."""
        return f"X:1\nL:{self.unit}\nM:{abcfields.model_meter(self.meter)}\nK:{self.key}\n"

    def full(self) -> str:
        """The header shown to musicians: the user's X and title put back."""
        t = f"T:{self.title}\n" if self.title else ""
        r = f"R:{self.kind}\n" if self.kind else ""
        q = f"Q:{self.tempo}\n" if self.tempo else ""
        return f"X:{self.x}\n{t}{r}M:{self.meter}\nL:{self.unit}\n{q}K:{self.key_as_typed or self.key}\n"


def _as_typed(key) -> str:
    """A key's own spelling, where it is a plain ABC key name ("Em", "Dmix", "F#m"); else ""."""
    text = str(key or "").strip()
    return text if re.fullmatch(r"[A-G][#b]?(?:m|min|maj|mix|dor|phr|lyd|loc|ion|aeo)?", text, re.I) else ""


def type_name(kind) -> str:
    """The table's name for a tune type as typed ("Reel", "double jig", "clog"); "" for none."""
    if kind is None or not str(kind).strip():
        return ""
    key = " ".join(str(kind).lower().split())
    found = TUNE_TYPES.get(ALIASES.get(key, key))
    if found is None:
        raise FieldError("type", f"{str(kind)[:40]!r} is not a tune type abcgen knows; choose one of "
                                 f"{', '.join(TUNE_TYPES)} (or none)")
    return found.name


@dataclass(frozen=True)
class Settings:
    temperature: float = 1.0   # 0 (or below 0.01) means greedy: always the most likely character
    top_k: int = 0             # keep only the k most likely characters (0: all)
    top_p: float = 1.0         # keep the smallest set of characters whose probability reaches p
    seed: int = 0
    max_chars: int = 1200      # characters the model may write before the tune is closed
    num: int = 1               # candidates sampled together

    def checked(self) -> "Settings":
        def number(name, value, kind):
            try:
                v = kind(value)
            except (TypeError, ValueError, OverflowError):
                raise FieldError(name, f"{str(value)[:20]!r} is not a number") from None
            if isinstance(v, float) and v != v:
                raise FieldError(name, "is not a number")
            return v
        t = number("temperature", self.temperature, float)
        if not 0 <= t <= 5:
            raise FieldError("temperature", "must be between 0 (greedy) and 5; 1.0 is the model's own taste")
        k = number("top_k", self.top_k, int)
        if not 0 <= k <= 1000:
            raise FieldError("top_k", "must be between 0 (off) and 1000")
        p = number("top_p", self.top_p, float)
        if not 0 < p <= 1:
            raise FieldError("top_p", "must be above 0 and at most 1 (1 is off)")
        seed = number("seed", self.seed, int)
        if not 0 <= seed < 2**63:
            raise FieldError("seed", "must be a whole number from 0 up")
        n = number("max_chars", self.max_chars, int)
        if not 50 <= n <= MAX_CHARS:
            raise FieldError("max_chars", f"must be between 50 and {MAX_CHARS}")
        num = number("num", self.num, int)
        if not 1 <= num <= MAX_CANDIDATES:
            raise FieldError("num", f"must be between 1 and {MAX_CANDIDATES} candidates")
        return Settings(t, k, p, seed, n, num)


# A header field written among the notes ("dAF K:G"): a letter after a space, a colon, and no bar line
# (a note before ":|" is music); inline fields [K:G] and chord symbols are taken out first.
_FIELD_INSIDE = re.compile(r"(?:(?<=\s)|^)[A-Za-z]:(?![|:\]])[^\s|]*")


def check_opening(opening: str, vocab: Vocab) -> str:
    """The opening as the model will read it: lines of music, no header fields, known characters."""
    opening = (opening or "").replace("\r\n", "\n").replace("\r", "\n")
    if len(opening) > MAX_OPENING:
        raise FieldError("opening", f"is {len(opening)} characters long; the limit is {MAX_OPENING}")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in opening.split("\n")]
    lines = [line for line in lines if line]
    for i, line in enumerate(lines, 1):
        if re.match(r"^[A-Za-z]:(?![|:])", line):
            raise FieldError("opening", f"line {i} ({line[:20]!r}) is a header field; put header values "
                                        "in their own fields and only notes in the opening")
        inside = _FIELD_INSIDE.search(re.sub(r'"[^"]*"|\[[A-Za-z]:[^\]]*\]', " ", line))
        if inside:
            raise FieldError("opening", f"holds a header field, {inside.group(0)}, inside the music of line {i}; "
                                        "put header values in their own fields (K: key, M: meter, ...) and "
                                        "only notes in the opening")
    text = "\n".join(lines)
    vocab.encode(text, field="opening")
    return text
