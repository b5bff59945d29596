"""What outlives one page view: the share link (settings, seed and the tune itself, packed into the
URL's #fragment) and the history kept in the visitor's browser, exported as one ABC tune book.

Both come back from the browser, so both are read as untrusted input: bounded in size, checked in
shape, and a link that cannot be read is a FieldError naming it.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib

from abcgen.errors import FieldError
from abcgen.request import FIELDS

PREFIX = "tune="
MAX_LINK = 40_000          # characters of #fragment read
MAX_PACKED = 64_000        # bytes a link may unpack to
MAX_HISTORY = 30           # tunes kept
MAX_HISTORY_CHARS = 100_000  # ABC characters kept in all; the oldest tunes go first
MAX_TUNE_CHARS = 20_000

# The settings a link carries, with the type each must have: the request's fields and the tune.
SETTINGS = {**{f.name: f.type for f in FIELDS}, "abc": str}
# The widest value a link may carry for each number; the page's own checks then judge it as typed.
RANGES = {"x": (0, 10**9), "temperature": (0.0, 10.0), "top_k": (0, 10**4), "top_p": (0.0, 1.0),
          "seed": (0, 2**32), "max_chars": (0, 10**6), "num": (0, 100), "swing": (0.0, 1.0), "speed": (0.0, 10.0)}


def pack(settings: dict) -> str:
    """The #fragment (without '#') for a set of settings and the tune."""
    data = {k: v for k, v in settings.items() if k in SETTINGS and v not in (None, "")}
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def unpack(fragment: str) -> dict:
    """The settings in a #fragment; {} when there is none; FieldError("link") when it is damaged: not
    one of this page's links, cut short, too long, or holding a setting of the wrong type or out of
    range (a number beyond RANGES, not a number at all, a text longer than any field takes)."""
    text = (fragment or "").lstrip("#")
    if not text:
        return {}
    if not text.startswith(PREFIX):
        raise FieldError("link", "this link is damaged: it holds no tune from this page; ask for the link again")
    body = text[len(PREFIX):]
    if len(body) > MAX_LINK or not re.fullmatch(r"[A-Za-z0-9_-]*", body):
        raise FieldError("link", "this link is damaged or too long; ask for the link again")
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, MAX_PACKED)
        if inflater.unconsumed_tail:
            raise ValueError("too long")
        data = json.loads(raw)
    except (ValueError, binascii.Error, zlib.error, RecursionError):
        raise FieldError("link", "this link is damaged (perhaps cut short when it was copied); "
                                 "ask for the link again") from None
    if not isinstance(data, dict):
        raise FieldError("link", "this link is damaged: it holds no tune settings; ask for the link again")
    return {name: _setting(name, kind, data[name]) for name, kind in SETTINGS.items()
            if data.get(name) not in (None, "")}


def _setting(name: str, kind: type, value):
    """One setting from a link, of its type and in its range, else FieldError("link")."""
    damaged = FieldError("link", f"this link is damaged: its {name} setting cannot be read; ask for the link again")
    if kind is str:
        if not isinstance(value, str) or len(value) > MAX_TUNE_CHARS:
            raise damaged
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise damaged
        return value
    text = value if isinstance(value, str) else None   # a number as a control holds it ("0.6")
    if text is not None:
        try:
            value = float(text) if len(text) <= 30 else math.nan
        except ValueError:
            raise damaged from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise damaged
    low, high = RANGES[name]
    if not low <= value <= high or (kind is int and value != int(value)):
        raise damaged
    return text if text is not None else kind(value)


def clean_history(history) -> list[dict]:
    """The history as the browser sent it, reduced to what the page wrote there: at most
    MAX_HISTORY entries of {"label", "abc"} strings, within MAX_HISTORY_CHARS in all."""
    if not isinstance(history, list):
        return []
    out = [{"label": h["label"][:300], "abc": h["abc"]} for h in history[-MAX_HISTORY:]
           if isinstance(h, dict) and isinstance(h.get("label"), str) and isinstance(h.get("abc"), str)
           and 0 < len(h["abc"]) <= MAX_TUNE_CHARS]
    while sum(len(h["abc"]) for h in out) > MAX_HISTORY_CHARS:
        out.pop(0)
    return out


def add_to_history(history, label: str, abc: str) -> list[dict]:
    return clean_history(clean_history(history) + [{"label": label, "abc": abc}])


def tune_book(history) -> str:
    """The history as one ABC tune book: the tunes in order, numbered X:1, X:2, ..."""
    tunes = []
    for number, entry in enumerate(clean_history(history), start=1):
        text = entry["abc"].replace("\r\n", "\n").strip()
        if re.match(r"X:", text):
            text = re.sub(r"\AX:[^\n]*", f"X:{number}", text)
        else:
            text = f"X:{number}\n{text}"
        tunes.append(text)
    return "\n\n".join(tunes) + "\n"
