"""Compose tunes from the command line.

    python -m abcgen.generate --meter 6/8 --key Dmix --unit 1/8 --tempo 1/4=120 --title "My Jig" \\
        --opening "|: A2d fed" --temperature 1.0 --seed 3 --num 4 [--form AABB] [--json] [--out DIR]
    python -m abcgen.generate --type hornpipe --key A       (meter, unit, tempo and form from the type)
    python -m abcgen.generate --keep-bars 4 --opening "$(cat tune.abc)"   (keep bars 1-4, write the rest)
    python -m abcgen.generate --keep-bars A --opening "$(cat tune.abc)"   (keep the A part, a new B part)

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
from dataclasses import replace
from pathlib import Path

from abcgen.render import outputs as render
from abcgen.compose import compose
from abcgen.errors import CheckpointError, FieldError, RenderError
from abcgen.request import DEFAULTS, FIELDS, NAMES, Request
from abcgen.sampling.asked import MAX_CANDIDATES
from abcgen.sampling.sample import candidate_settings, load_sampler

MAX_NUM = 100       # tunes one command composes (in batches of MAX_CANDIDATES): a tune book
BATCH_SEEDS = 1000  # later batches' seeds derive from --seed past the resampling attempts' (1-3)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m abcgen.generate", description="Compose folk tunes in ABC.")
    for f in FIELDS:   # the request's fields, as options; a type fills in what is not given
        option, shown = "--" + f.name.replace("_", "-"), f" (default: {f.default!r})" if f.default else ""
        if f.type is bool:
            p.add_argument(option, action="store_true", default=None, help=f.help)
        else:
            p.add_argument(option, default=None, type=f.type, help=f.help + shown)
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


def compose_all(sampler, request: Request, num: int, retries: int) -> list:
    """`num` tunes, composed in batches of at most MAX_CANDIDATES (a request's cap). The first batch
    uses the request's seed itself, so up to 16 tunes come out as before; later batches derive their
    seeds from it."""
    tunes = []
    for batch, done in enumerate(range(0, num, MAX_CANDIDATES)):
        settings = replace(request.settings, num=min(MAX_CANDIDATES, num - done))
        if batch:
            settings = candidate_settings(settings, BATCH_SEEDS + batch)
        tunes += compose(sampler, request.header, request.opening, request.form, settings, retries=retries)
    return tunes


def write_tune_files(tunes, out: Path, first_x: int, play) -> None:
    """Each tune's .abc .mid .musicxml .svg .wav; a tune that cannot be converted or written is
    reported and skipped, never the others."""
    for i, t in enumerate(tunes):
        try:
            rendered = render.render(t.abc, play=play)
            t.files = render.write_files(rendered, rendered.abc, out, f"tune-{first_x + i}")
        except (RenderError, OSError) as e:
            print(f"tune {first_x + i}: could not convert or write its files: {e}", file=sys.stderr)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        out = out_folder(args.out)
        num = DEFAULTS["num"] if args.num is None else args.num
        if not 1 <= num <= MAX_NUM:
            raise FieldError("num", f"must be between 1 and {MAX_NUM} tunes")
        request = Request.read({n: getattr(args, n) for n in NAMES if n != "num"})
        header = request.header
        sampler = load_sampler(args.checkpoint)
        tunes = compose_all(sampler, request, num, args.retries)
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
        write_tune_files(tunes, out, header.x, request.playing)
    if args.json:
        print(json.dumps([t.to_dict() for t in tunes], indent=1))
    else:
        for t in tunes:
            print(t.abc)
            print("% " + t.report.text().replace("\n", "\n% "), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
