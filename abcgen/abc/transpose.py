"""Transposed copies of tunes, to the other keys their instruments play: more training data from
the same tunes. A D-major reel also teaches the G-major ones; an E-dorian jig the A-dorian ones.

abcmidi's `abc2abc -t` does the transposing (key signature, notes, chord symbols, inline key
changes); music21 names the pitch classes. The data loader calls this once, at preparation, and
caches the result with the prepared corpus.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from abcgen.errors import DataError

# Keys folk melody instruments (fiddle, flute, whistle, pipes) play in, by mode: the targets.
KEYS_BY_MODE = {
    "": ("D", "G", "A", "C", "F"),
    "min": ("E", "A", "B", "D", "G"),
    "dor": ("A", "E", "D", "B", "G"),
    "mix": ("D", "A", "G", "E"),
}
_KEY = re.compile(r"([A-G][#b]?)(min|dor|mix|)$")


def pitch_class(tonic: str) -> int:
    import music21
    return music21.pitch.Pitch(tonic.replace("b", "-")).pitchClass


def shifts_for(key: str) -> list[int]:
    """Semitone shifts (-6..5, the nearest way) from `key` (canonical K: value) to each other key
    of its mode that instruments play; [] for modes and keys outside the table."""
    m = _KEY.fullmatch(key)
    if not m:
        return []
    tonic, mode = m.groups()
    here = pitch_class(tonic)
    shifts = []
    for target in KEYS_BY_MODE[mode]:
        shift = (pitch_class(target) - here + 6) % 12 - 6
        if shift and shift not in shifts:
            shifts.append(shift)
    return shifts


def transpose(tunes: list[str], shifts: list[int], timeout: float = 600.0) -> list[str | None]:
    """tunes[i] transposed by shifts[i] semitones, None where abc2abc gave nothing back. One
    abc2abc run per distinct shift, on a tune book of all the tunes that take it."""
    if not shutil.which("abc2abc"):
        raise DataError("transposing needs abc2abc (Debian package abcmidi): `apt-get install abcmidi`, "
                        "or turn transposition off (transpose: false)")
    groups: dict[int, list[int]] = defaultdict(list)
    for i, shift in enumerate(shifts):
        groups[shift].append(i)
    out: list[str | None] = [None] * len(tunes)
    with tempfile.TemporaryDirectory() as tmp:
        for shift, members in groups.items():
            book = Path(tmp) / f"t{shift}.abc"
            book.write_text("\n".join(re.sub(r"\AX:[^\n]*", f"X:{n + 1}", tunes[i])
                                      for n, i in enumerate(members)) + "\n")
            done = subprocess.run(["abc2abc", str(book), "-e", "-t", str(shift)], capture_output=True,
                                  timeout=timeout)
            text = done.stdout.decode("utf-8", "replace")
            for piece in re.split(r"(?m)^(?=X:)", text):
                m = re.match(r"X:\s*(\d+)", piece)
                if m and 1 <= int(m.group(1)) <= len(members):
                    out[members[int(m.group(1)) - 1]] = piece
    return out
