"""Validator and tune-state speed: CPU milliseconds per tune to validate (music21 included), and
microseconds per character to feed a tune state and work out what may come next, on tunes of
O'Neill's 1850 collection (music21's corpus). Best of five runs, in CPU time, so other work on the
machine counts as little as it can.

    python -m benchmarks.validate_speed
"""
import re
import time
from pathlib import Path

import music21

from abcgen.abc.accepts import next_state
from abcgen.abc.check import validate
from abcgen.abc.header import split_tune
from abcgen.abc.tune import TuneState

BOOK = Path(music21.__file__).parent / "corpus" / "oneills1850" / "1031-1115.abc"


def tunes() -> list[str]:
    text = BOOK.read_text(encoding="latin-1")
    return [c for c in re.split(r"(?m)^(?=X:)", text) if c.startswith("X:")][:40]


def best(run, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def feed_all(pieces: list[tuple[str, str, str]]) -> None:
    for meter, unit, body in pieces:
        state = TuneState(meter, unit)
        for c in body:
            state = state.feed(c)
            next_state(state)


def main():
    book = tunes()
    validating = best(lambda: [validate(t) for t in book])
    pieces = []
    for t in book:
        fields, body = split_tune(t)
        f = dict(fields)
        pieces.append((f.get("M", "4/4"), f.get("L", "1/8"), body))
    chars = sum(len(b) for _, _, b in pieces)
    feeding = best(lambda: feed_all(pieces))
    print(f"validate: {1000 * validating / len(book):.1f} ms CPU per tune ({len(book)} tunes)")
    print(f"tune state: {1e6 * feeding / chars:.1f} us CPU per character, feed and next_state ({chars} characters)")


if __name__ == "__main__":
    main()
