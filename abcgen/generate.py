"""Compose tunes from the command line.

    python -m abcgen.generate --meter 6/8 --key Dmix --unit 1/8 --tempo 1/4=120 --title "My Jig" \\
        --opening "|: A2d fed" --temperature 1.0 --seed 3 --num 4 [--form "S:2 B:8 E:5 B:8"] [--json] [--out DIR]

Prints the tunes as an ABC tune book, or with --json one JSON array of objects with `abc`, `valid`,
`report`, `requested_form`, `achieved_form` and `music` (the musical report of `abcgen.analysis`).
With --out, writes .abc, .mid, .musicxml, .svg and .wav files per tune. Without --checkpoint it
uses the shipped model. These option names are stable.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from abcgen.compose import compose
from abcgen.errors import CheckpointError, FieldError, RenderError
from abcgen.sample import Header, Settings, load_sampler


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m abcgen.generate", description="Compose folk tunes in ABC.")
    p.add_argument("--meter", default="4/4", help="M: field, e.g. 4/4, 6/8, 9/8, 3/4, C, C|")
    p.add_argument("--unit", default="1/8", help="L: field, e.g. 1/8")
    p.add_argument("--key", default="D", help="K: field with mode, e.g. D, Dmix, Ador, Bm, F#min")
    p.add_argument("--tempo", default=None, help="Q: field, e.g. 1/4=120 or 120")
    p.add_argument("--title", default="", help="T: field (not seen by the model)")
    p.add_argument("--x", default=1, type=int, help="X: number of the first tune")
    p.add_argument("--opening", default="", help="the first notes, in ABC, kept verbatim")
    p.add_argument("--form", default="", help='control code, e.g. "S:2 B:8 E:5 B:8" or "S:3"; empty lets the model choose')
    p.add_argument("--temperature", default=1.0, type=float, help="0 is greedy; 1 is the model's own taste")
    p.add_argument("--top-k", default=0, type=int, help="sample from the k likeliest characters (0: all)")
    p.add_argument("--top-p", default=1.0, type=float, help="nucleus sampling threshold (1: off)")
    p.add_argument("--seed", default=0, type=int)
    p.add_argument("--num", default=1, type=int, help="number of tunes")
    p.add_argument("--max-chars", default=1200, type=int, help="length cap; the tune is closed at its last full bar")
    p.add_argument("--retries", default=2, type=int, help="resampling rounds for tunes that fail validation")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default: the shipped one)")
    p.add_argument("--json", action="store_true", help="print a JSON array instead of ABC")
    p.add_argument("--out", default=None, help="also write .abc .mid .musicxml .svg .wav files here")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        header = Header.parse(args.meter, args.unit, args.key, args.tempo, args.title, args.x)
        settings = Settings(args.temperature, args.top_k, args.top_p, args.seed, args.max_chars, args.num)
        sampler = load_sampler(args.checkpoint)
        tunes = compose(sampler, header, args.opening, args.form, settings, retries=args.retries)
    except FieldError as e:
        print(f"error in {e.field}: {e.message}", file=sys.stderr)
        return 2
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # Number the tunes of the book from --x on.
    for i, t in enumerate(tunes):
        t.abc = t.abc.replace(f"X:{header.x}\n", f"X:{header.x + i}\n", 1)
    if args.out:
        from abcgen import render
        out = Path(args.out)
        for i, t in enumerate(tunes):
            try:
                t.files = render.write_files(render.render(t.abc), t.abc, out, f"tune-{header.x + i}")
            except RenderError as e:
                print(f"tune {header.x + i}: could not convert: {e}", file=sys.stderr)
    if args.json:
        print(json.dumps([t.to_dict() for t in tunes], indent=1))
    else:
        for t in tunes:
            print(t.abc)
            print("% " + t.report.text().replace("\n", "\n% "), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
