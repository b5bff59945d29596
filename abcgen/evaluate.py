"""Bits per character of a checkpoint on any ABC source:
python -m abcgen.evaluate [--checkpoint P] --data PATH [--json]

Tunes go through the project's normalization; every tune is scored with its full context, and only
real characters count (the tune's characters and its end symbol: no padding, no control codes).
"""
from __future__ import annotations

import argparse
import json
import math
import sys

import torch

from abcgen.learn import batching
from abcgen.learn import checkpoint
from abcgen.learn.data import load_corpus, type_line
from abcgen.errors import CheckpointError, DataError, FieldError
from abcgen.learn.scoring import evaluate_stream


def evaluate(model, vocab, tunes, seq_len: int = 256, tracks: int = 16) -> dict:
    """{'tunes', 'chars', 'bits_per_char', 'nats_per_char', 'skipped'} over `tunes` (data.Tune)."""
    pairs, skipped = [], 0
    uses_codes = all(c in vocab.index for c in "SBE")
    uses_types = "R" in vocab.index      # R never occurs in a canonical body, only as the type line
    for t in tunes:
        code = (type_line(t.kind) if uses_types else "") + (t.code if uses_codes else "")
        try:
            vocab.encode(code + t.abc)
        except FieldError:
            skipped += 1       # a character the model never saw: it cannot be scored fairly
            continue
        pairs.append((code, t.abc, t.item[2] if model.config.kinds else 0))
    if not pairs:
        raise DataError("no tune could be scored (all contain characters outside the model's vocabulary)")
    nats, count = evaluate_stream(model, *batching.tune_tracks(pairs, vocab, tracks), seq_len,
                                  torch.device("cpu"))
    return {"tunes": len(pairs), "chars": count, "bits_per_char": nats / math.log(2),
            "nats_per_char": nats, "skipped": skipped}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m abcgen.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="checkpoint file (default: the shipped checkpoints/folk.pt)")
    p.add_argument("--data", required=True, help='"folk", a .abc file or folder, or IrishMAN JSON/folder')
    p.add_argument("--split", choices=["all", "train", "valid"], default="all",
                   help="which part of the source to score (default: all of it)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    try:
        model, vocab, _ = checkpoint.load(args.checkpoint)
        corpus = load_corpus(args.data, validate=False, cache_dir=".cache")
        tunes = {"all": corpus.train + corpus.valid, "train": corpus.train, "valid": corpus.valid}[args.split]
        result = evaluate(model, vocab, tunes)
    except (CheckpointError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result["data"] = args.data
    result["dropped"] = sum(corpus.dropped.values())
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['tunes']} tunes, {result['chars']:,} characters: "
              f"{result['bits_per_char']:.4f} bits per character "
              f"({result['skipped']} skipped for unknown characters, {result['dropped']} not normalizable)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
