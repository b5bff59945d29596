"""Write the held-out folk tunes as a tune book in another dialect, the way many online tune
books write ABC: `!` for line breaks (several score lines on one text line), keys spelled out
(`K:D Major`, `K:A Dorian`, `K:Em`), `M:C|` and `M:C` for 2/2 and 4/4, a tempo, titles and
`%` comments. Then score it:

    python -m benchmarks.dialect_book runs/dialect.abc [--no-types]
    python -m abcgen.evaluate --data runs/dialect.abc --json [--checkpoint FILE]

The tunes are the validation split of `load_corpus("folk")`: the shipped model never trained on
them (an older checkpoint, with another split, may have seen some).
"""
from __future__ import annotations

import sys
from pathlib import Path

from abcgen.learn.data import body_of, load_corpus

MODES = {"": " Major", "min": "m", "dor": " Dorian", "mix": " Mixolydian", "phr": " Phrygian",
         "lyd": " Lydian", "loc": " Locrian"}
METERS = {"4/4": "C", "2/2": "C|"}


def spelled_key(key: str) -> str:
    for suffix in sorted(MODES, key=len, reverse=True):
        if suffix and key.endswith(suffix):
            return key[: -len(suffix)] + MODES[suffix]
    return key + MODES[""] if key[:1] in "ABCDEFG" else key


def in_dialect(abc: str, number: int, title: str, kind: str = "") -> str:
    """One canonical tune written the old way (with its type as `R: Reel` when it has one)."""
    fields = dict(line.split(":", 1) for line in abc.split("\n")[:4] if ":" in line)
    lines = [line for line in body_of(abc).split("\n") if line]
    # two score lines to a text line, each ended by "!"
    text = ["".join(f"{line}!" for line in lines[i:i + 2]) for i in range(0, len(lines), 2)]
    meter = fields.get("M", "4/4")
    rhythm = [f"R: {kind.title()}"] if kind else []
    return "\n".join([f"X:{number}", f"T:{title}", *rhythm, "% transcribed from a session", f"M:{METERS.get(meter, meter)}",
                      f"L:{fields.get('L', '1/8')}", "Q:1/4=120", f"K:{spelled_key(fields.get('K', 'C'))}",
                      *text]) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    types = "--no-types" not in argv       # without it, tunes whose book names their type keep an R:
    argv = [a for a in argv if a != "--no-types"]
    out = Path(argv[0] if argv else "runs/dialect.abc")
    corpus = load_corpus("folk", abc2midi=True, cache_dir=".cache")
    book = "\n".join(in_dialect(t.abc, i + 1, t.source, t.kind if types else "")
                     for i, t in enumerate(corpus.valid))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(book)
    print(f"wrote {len(corpus.valid)} tunes ({len(book):,} characters) to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
