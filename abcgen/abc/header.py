"""Header fields as written in ABC, read into one spelling each: meter, unit, key, tempo, and the
split of a tune into its header and its body.

Every reader of ABC in abcgen (validator, reader, data, sampler, app) uses these, so a meter or
key means the same thing everywhere; a bad value raises FieldError naming the field.
"""
from __future__ import annotations

import re
from fractions import Fraction

from abcgen.errors import FieldError

_POWERS_OF_TWO = {2 ** k for k in range(7)}  # 1 .. 64

_MODES = {  # full mode name -> canonical suffix ("" = major)
    "major": "", "ionian": "",
    "minor": "min", "aeolian": "min",
    "mixolydian": "mix", "dorian": "dor", "phrygian": "phr", "lydian": "lyd", "locrian": "loc",
}
_CLEF_WORDS = {"treble", "bass", "bass3", "alto", "alto1", "alto2", "tenor", "perc",
               "treble+8", "treble-8", "bass+8", "bass-8", "alto+8", "alto-8"}
KEY_HELP = "e.g. D, Dmix, Ador, Bm, F#min"


MAX_FIELD = 100  # characters: no real header value is longer, and a huge one must not cost time
MAX_BEATS = 32  # a meter's top number (or its parts added up), and a tempo beat's; music21 slows with it


def _bounded(field: str, text: str | None) -> str:
    """The field text, refused with a clear message when it is absurdly long."""
    text = text or ""
    if len(text) > MAX_FIELD:
        raise FieldError(field, f"is {len(text)} characters long; a {field} value is at most {MAX_FIELD}")
    return text


def parse_meter(text: str) -> str:
    """Canonical M: value ("6/8", "C", "C|", "none"); a clear FieldError otherwise."""
    s = re.sub(r"\s+", "", _bounded("meter", text))
    if s.lower() == "none":
        return "none"
    if s in ("C", "c"):
        return "C"
    if s in ("C|", "c|"):
        return "C|"
    m = re.fullmatch(r"\(?(\d+(?:\+\d+)*)\)?/(\d+)", s)
    if m:
        parts = [int(p) for p in m.group(1).split("+")]
        den = int(m.group(2))
        if all(parts) and den in _POWERS_OF_TWO:
            if sum(parts) <= MAX_BEATS:
                return "+".join(str(p) for p in parts) + f"/{den}"
            raise FieldError("meter", f"{text.strip()!r} has {sum(parts)} beats to the bar; music uses at most "
                                      f"{MAX_BEATS} (write it like 4/4, 6/8 or 12/8)")
    raise FieldError("meter", f"{text!r} is not a meter; write it like 4/4, 6/8, 3/4, "
                              "9/8, C or C| (the bottom number 1, 2, 4, 8, 16, 32 or 64)")


def meter_length(meter: str) -> Fraction | None:
    """Length of one bar in whole notes for a canonical meter; None for free meter."""
    if meter == "none":
        return None
    if meter in ("C", "C|"):
        return Fraction(1)
    top, den = meter.split("/")
    return Fraction(sum(int(p) for p in top.split("+")), int(den))


def model_meter(meter: str) -> str:
    """The one spelling of a canonical meter in the training text and the prompt: the common-time
    symbols as numbers (C is 4/4, C| is 2/2), so a musician's "4/4 reel" and a tune book's "M:C"
    reach the model the same way."""
    return {"C": "4/4", "C|": "2/2"}.get(meter, meter)


def default_unit(meter: str) -> str:
    """ABC's rule for a missing L: field: 1/16 when the bar is shorter than 3/4, else 1/8
    (free meter: 1/8)."""
    length = meter_length(meter)
    return "1/16" if length is not None and length < Fraction(3, 4) else "1/8"


def parse_unit(text: str) -> str:
    """Canonical L: value ("1/8"); a clear FieldError otherwise."""
    s = re.sub(r"\s+", "", _bounded("unit", text))
    m = re.fullmatch(r"1/(\d+)", s)
    if m and int(m.group(1)) in _POWERS_OF_TWO:
        return f"1/{int(m.group(1))}"
    raise FieldError("unit", f"{text!r} is not a note length; write it like 1/8 or 1/16 "
                             "(1/1 to 1/64)")


def is_clef_token(token: str) -> bool:
    return "=" in token or token.lower() in _CLEF_WORDS


def parse_key(text: str) -> str:
    """Canonical K: value in the IrishMAN spelling (G, Emin, Dmix, Ador, HP, none)."""
    tokens = [t for t in _bounded("key", text).split() if not is_clef_token(t)]
    if not tokens:
        raise FieldError("key", f"the key is empty; write a key, {KEY_HELP}")
    first = tokens[0]
    if len(tokens) == 1 and first in ("HP", "Hp"):
        return first
    if len(tokens) == 1 and first.lower() == "none":
        return "none"
    m = re.fullmatch(r"([A-Ga-g])([#b]?)([A-Za-z]*)", first)
    words = tokens[1:]
    if m and m.group(3) and words:
        m = None  # a mode glued to the tonic and another word after it
    if m is None or len(words) > 1:
        raise FieldError("key", f"{text.strip()!r} is not a key; {KEY_HELP}")
    tonic = m.group(1).upper() + m.group(2)
    word = (m.group(3) or (words[0] if words else "")).lower()
    if word == "":
        suffix = ""
    elif word == "m":
        suffix = "min"
    else:
        found = [s for name, s in _MODES.items() if len(word) >= 3 and name.startswith(word)]
        if not found:
            raise FieldError("key", f"{text.strip()!r} has an unknown mode {word!r}; "
                                    f"{KEY_HELP}")
        suffix = found[0]
    return tonic + suffix


def parse_tempo(text: str | None) -> str | None:
    """Canonical Q: value ("1/4=120"); None when empty or text only; FieldError when bad."""
    if text is None or not text.strip():
        return None
    text = _bounded("tempo", text)
    if text.count('"') % 2:
        raise FieldError("tempo", f"{text!r} has an unclosed quote; write it like 1/4=120")
    s = re.sub(r'"[^"]*"', " ", text)
    s = re.sub(r"\s+", "", s)
    if not s:
        return None
    m = re.fullmatch(r"(?:(\d+)/(\d+)=)?(\d+(?:\.\d+)?)", s)
    help_ = "write it like 1/4=120 (20 to 400 beats per minute)"
    if not m:
        raise FieldError("tempo", f"{text!r} is not a tempo; {help_}")
    num, den = (int(m.group(1)), int(m.group(2))) if m.group(1) else (1, 4)
    bpm = float(m.group(3))
    if not 0 < num <= MAX_BEATS or den not in _POWERS_OF_TWO or not 20 <= bpm <= 400:
        raise FieldError("tempo", f"{text!r} is out of range; {help_}")
    bpm_text = str(int(bpm)) if bpm == int(bpm) else str(bpm)
    return f"{num}/{den}={bpm_text}"


def tempo_bpm(q: str | None, default: float = 120.0) -> float:
    """Quarter notes per minute for a Q: value; `default` when absent or unreadable. A beat made
    of several note values (Q:1/4 3/8 1/4 3/8=40, as the ABC standard allows) is their sum."""
    try:
        canon = parse_tempo(q)
    except FieldError:
        m = re.fullmatch(r'\s*(?:"[^"]*"\s*)?((?:\d+/\d+\s*)+)=\s*(\d+(?:\.\d+)?)\s*(?:"[^"]*")?\s*', q or "")
        if not m:
            return default
        beat = sum(Fraction(f) for f in m.group(1).split() if not f.endswith("/0"))
        bpm = float(beat) * 4 * float(m.group(2))
        return bpm if 0 < bpm <= 4000 else default
    if canon is None:
        return default
    beat, bpm = canon.split("=")
    num, den = beat.split("/")
    return float(bpm) * int(num) / int(den) * 4


# splitting a tune into its header and its body

_FIELD_RE = re.compile(r"([A-Zmrsw]):(.*)")


def field_line(line: str) -> re.Match | None:
    """A header/body field line such as "M:6/8" (not a bar line like "A:|")."""
    m = _FIELD_RE.fullmatch(line.strip())
    return m if m and not m.group(2).startswith("|") else None


def strip_comment(value: str) -> str:
    return re.sub(r"(?<!\\)%.*", "", value).strip()


def header_fields(lines: list[str]) -> tuple[list[tuple[str, str, int]], int]:
    """Header fields (letter, value, line index) and the index of the first body line."""
    fields = []
    for i, line in enumerate(lines):
        s = line.strip()
        if not s or s.startswith("%") or (i and lines[i - 1].rstrip().endswith("\\")):
            continue  # blank, comment, or the continuation of a directive
        m = field_line(s)
        if not m:
            return fields, i
        fields.append((m.group(1), strip_comment(m.group(2)), i))
        if m.group(1) == "K":
            return fields, i + 1
    return fields, len(lines)


def normalise(abc: str) -> str:
    return (abc or "").replace("\r\n", "\n").replace("\r", "\n")


def split_tune(abc: str) -> tuple[list[tuple[str, str]], str]:
    """Header fields up to and including the first K: line, and the body after it."""
    lines = normalise(abc).split("\n")
    fields, body_start = header_fields(lines)
    return [(k, v) for k, v, _ in fields], "\n".join(lines[body_start:])


def header_field(abc: str, letter: str, default: str = "") -> str:
    """The first value of a header field (T, M, K, ...) as written in the tune."""
    return next((value for name, value in split_tune(abc)[0] if name == letter), default)
