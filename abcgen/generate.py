"""Compose tunes from the command line.

    python -m abcgen.generate --meter 6/8 --key Dmix --unit 1/8 --tempo 1/4=120 --title "My Jig" \\
        --opening "|: A2d fed" --temperature 1.0 --seed 3 --num 4 [--form AABB] [--json] [--out DIR]

Prints the tunes as an ABC tune book, or with --json one JSON array of objects with `abc`, `valid`,
`report`, `requested_form`, `achieved_form` and `music` (the musical report of `abcgen.judge.analysis`).
With --out, writes .abc, .mid, .musicxml, .svg and .wav files per tune. Without --checkpoint it
uses the shipped model. These option names are stable.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from abcgen.render import outputs as render
from abcgen.compose import compose
from abcgen.errors import CheckpointError, FieldError, RenderError
from abcgen.sampling.sample import MAX_CANDIDATES, Header, Settings, candidate_settings, load_sampler

MAX_NUM = 100       # tunes one command composes (in batches of MAX_CANDIDATES): a tune book
BATCH_SEEDS = 1000  # later batches' seeds derive from --seed past the resampling attempts' (1-3)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m abcgen.generate", description="Compose folk tunes in ABC.")
    p.add_argument("--meter", default="4/4", help="M: field, e.g. 4/4, 6/8, 9/8, 3/4, C, C|")
    p.add_argument("--unit", default="1/8", help="L: field, e.g. 1/8")
    p.add_argument("--key", default="D", help="K: field with mode, e.g. D, Dmix, Ador, Bm, F#min")
    p.add_argument("--tempo", default=None, help="Q: field, e.g. 1/4=120 or 120")
    p.add_argument("--title", default="", help="T: field (not seen by the model)")
    p.add_argument("--x", default=1, type=int, help="X: number of the first tune")
    p.add_argument("--opening", default="", help="the first notes, in ABC, kept verbatim")
    p.add_argument("--form", default="", help='form as musicians name it (AABB, AABBCC, AB, "AABB 16" for 16-bar parts) or an '
                   'IrishMAN control code ("S:2 B:9 E:5 B:9"); empty lets the model choose')
    p.add_argument("--temperature", default=1.0, type=float, help="0 is greedy; 1 is the model's own taste")
    p.add_argument("--top-k", default=0, type=int, help="sample from the k likeliest characters (0: all)")
    p.add_argument("--top-p", default=1.0, type=float, help="nucleus sampling threshold (1: off)")
    p.add_argument("--seed", default=0, type=int)
    p.add_argument("--num", default=1, type=int, help=f"number of tunes (1 to {MAX_NUM}; sampled 16 at a time)")
    p.add_argument("--max-chars", default=1200, type=int, help="length cap; the tune is closed at its last full bar")
    p.add_argument("--retries", default=2, type=int, help="resampling rounds for tunes that fail validation")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default: the shipped one)")
    p.add_argument("--json", action="store_true", help="print a JSON array instead of ABC")
    p.add_argument("--out", default=None, help="also write .abc .mid .musicxml .svg .wav files in this folder "
                                              "(made if missing; checked before sampling)")
    return p


def out_folder(out: str | None) -> Path | None:
    """The --out folder, made now: a path that is a file, or a folder that cannot be made or
    written in, fails before any sampling, so no composed tune is lost to it afterwards."""
    if not out:
        return None
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise FieldError("out", f"{out} exists and is not a folder; give a folder for the tune files")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FieldError("out", f"cannot create the folder {out} ({e.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise FieldError("out", f"cannot write in the folder {out}")
    return path


def compose_all(sampler, header: Header, args) -> list:
    """--num tunes, composed in batches of at most MAX_CANDIDATES (a request's cap). The first batch
    uses --seed itself, so up to 16 tunes come out as before; later batches derive their seeds from it."""
    tunes = []
    for batch, done in enumerate(range(0, args.num, MAX_CANDIDATES)):
        settings = Settings(args.temperature, args.top_k, args.top_p, args.seed, args.max_chars,
                            min(MAX_CANDIDATES, args.num - done))
        if batch:
            settings = candidate_settings(settings.checked(), BATCH_SEEDS + batch)
        tunes += compose(sampler, header, args.opening, args.form, settings, retries=args.retries)
    return tunes


def write_tune_files(tunes, out: Path, first_x: int) -> None:
    """Each tune's .abc .mid .musicxml .svg .wav; a tune that cannot be converted or written is
    reported and skipped, never the others."""
    for i, t in enumerate(tunes):
        try:
            t.files = render.write_files(render.render(t.abc), t.abc, out, f"tune-{first_x + i}")
        except (RenderError, OSError) as e:
            print(f"tune {first_x + i}: could not convert or write its files: {e}", file=sys.stderr)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        out = out_folder(args.out)
        header = Header.parse(args.meter, args.unit, args.key, args.tempo, args.title, args.x)
        Settings(args.temperature, args.top_k, args.top_p, args.seed, args.max_chars, 1).checked()
        if not 1 <= args.num <= MAX_NUM:
            raise FieldError("num", f"must be between 1 and {MAX_NUM} tunes")
        sampler = load_sampler(args.checkpoint)
        tunes = compose_all(sampler, header, args)
    except FieldError as e:
        print(f"error in {e.field}: {e.message}", file=sys.stderr)
        return 2
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # Number the tunes of the book from --x on.
    for i, t in enumerate(tunes):
        t.abc = t.abc.replace(f"X:{header.x}\n", f"X:{header.x + i}\n", 1)
    if out:
        write_tune_files(tunes, out, header.x)
    if args.json:
        print(json.dumps([t.to_dict() for t in tunes], indent=1))
    else:
        for t in tunes:
            print(t.abc)
            print("% " + t.report.text().replace("\n", "\n% "), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
