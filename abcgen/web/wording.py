"""Messages from the libraries underneath (music21's ABC reader, the converters) in a musician's
words: what is wrong in the tune, never the name of a Python class or of the library that noticed.
"""
from __future__ import annotations

import re

# (pattern, replacement), tried in order on each message; the first that matches is used.
_KNOWN = [
    (r"Bad chord indicator:?\s*([^\s|]{0,12})[^()\n]*",
     r"a chord opened with [ is never closed with ], at \1"),
    (r"cannot handle tuplet of form: '?([^']*)'?",
     r"the tuplet \1 cannot be played; tuplets run from (2 to (9, e.g. (3abc"),
    (r"cannot find any pitch information in: '?([^']*)'?", r"\1 is not a note"),
    (r"no active default note length.*", "the tune needs an L: line (unit note length) before its notes"),
    (r"Carried accidentals not rendered moot.*", "an accidental could not be carried through its bar"),
    (r"no time signature.*", "the M: meter cannot be read; write it like 4/4 or 6/8"),
    (r"no key signature.*", "the K: key cannot be read; write it like D, Dmix, Ador or Em"),
    (r"no tempo.*", "the Q: tempo cannot be read; write it like 1/4=120"),
    (r"no quarter length associated.*", "a note length cannot be read"),
]
_LIBRARY = re.compile(r"\b(?:music21|verovio|midiutil)\b\s*", re.I)
_CLASS = re.compile(r"\b[A-Z]\w*(?:Exception|Error)\b:?\s*")


def plain(message: str) -> str:
    """One message in a musician's words."""
    text = str(message or "").strip()
    for pattern, replacement in _KNOWN:
        m = re.search(pattern, text, flags=re.S)
        if m:
            # keep what the message says around the library's part, e.g. "Could not read the tune (...)"
            inner = re.sub(r",? at\s*$", "", m.expand(replacement))
            head = text[:m.start()]
            head = _CLASS.sub("", head)
            head = re.sub(r"\(\s*$", "(", head)
            text = head + inner + text[m.end():]
            break
    text = _CLASS.sub("", text)
    text = text.replace("music21 could not read the tune", "the tune cannot be read")
    text = _LIBRARY.sub("", text)
    text = re.sub(r"\(\s*\)", "", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def plain_lines(text: str) -> str:
    """Each line of a report in a musician's words."""
    return "\n".join(plain(line) if line.strip() else line for line in (text or "").split("\n"))
