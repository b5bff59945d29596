"""A blind reading: tunes the model writes, shuffled with held-out human tunes of the same types,
in one tune book where nothing but the music tells them apart (the same header fields, four bars
a line). The key goes to a separate file. Read the book as a fiddler would, write down for each
number "h" (human) or "m" (model), then score the guesses:

    python -m benchmarks.blind_book runs/blind.abc [--per-type 3] [--checkpoint FILE] [--seed 0]
    python -m benchmarks.blind_book runs/blind.abc --score "1h 2m 3m ..."

The human tunes are the folk corpus's validation split (never trained on) whose tune book names
their type; the model's are composed through the same path as the app's, each under the header
(meter, unit, key) of one of the human tunes, with the type's form and the type itself.
"""
from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from abcgen.abc import header as abcfields
from abcgen.compose import compose
from abcgen.learn.data import load_corpus
from abcgen.request import Request
from abcgen.sampling.sample import load_sampler

TYPES = ("reel", "jig", "hornpipe", "slip jig", "strathspey")
_BAR = re.compile(r":*\|+\]?:*|\[\d")


def four_bars_a_line(body: str) -> str:
    """The body as one stream of music, broken after every fourth bar line."""
    text, out, bars = " ".join(line.strip() for line in body.split("\n") if line.strip()), [], 0
    last = 0
    for m in _BAR.finditer(text):
        if m.group().startswith("[") or m.end() < len(text) and text[m.end()] in "0123456789":
            continue
        bars += 1
        if bars % 4 == 0:
            out.append(text[last:m.end()].strip())
            last = m.end()
    out.append(text[last:].strip())
    return "\n".join(line for line in out if line)


def blind(number: int, kind: str, abc: str) -> str:
    """One tune with only the fields both sides share: X, R, M, L, K."""
    header, body = abcfields.split_tune(abc)
    field = {k: abcfields.header_field(abc, k) for k in "MLK"}
    return (f"X:{number}\nR:{kind}\nM:{field['M']}\nL:{field['L'] or '1/8'}\nK:{field['K']}\n"
            f"{four_bars_a_line(body)}\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("book")
    p.add_argument("--per-type", type=int, default=3)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--score", default=None, help='guesses, e.g. "1h 2m 3m"')
    args = p.parse_args(argv)
    key_path = Path(args.book).with_suffix(".key.json")
    if args.score:
        key = json.loads(key_path.read_text())
        guesses = dict(re.findall(r"(\d+)\s*([hm])", args.score))
        right = sum(guesses.get(str(n)) == ("m" if who == "model" else "h") for n, who, _ in key)
        print(f"{right} of {len(key)} told apart ({right / len(key):.0%}; 50% = cannot tell)")
        for n, who, kind in key:
            print(f"  {n:3d} {kind:10s} {who:6s} guessed {guesses.get(str(n), '?')}")
        return 0
    rng = random.Random(args.seed)
    human = [t for t in load_corpus("folk", abc2midi=True, cache_dir=".cache").valid if t.kind in TYPES]
    sampler = load_sampler(args.checkpoint)
    entries = []
    for kind in TYPES:
        mine = [t for t in human if t.kind == kind]
        chosen = rng.sample(mine, min(args.per_type, len(mine)))
        for i, t in enumerate(chosen):
            entries.append(("human", kind, t.abc))
            # The model writes under the human tune's own meter, unit and key, so that a 2/2 reel
            # or a 2/4 hornpipe in sixteenths does not give the model's 4/4 away.
            asked = {"type": kind, "seed": args.seed * 1000 + i}
            for name, letter in (("meter", "M"), ("unit", "L"), ("key", "K")):
                if abcfields.header_field(t.abc, letter):
                    asked[name] = abcfields.header_field(t.abc, letter)
            r = Request.read(asked)
            tune = compose(sampler, r.header, r.opening, r.form, r.settings)[0]
            entries.append(("model", kind, tune.abc))
    rng.shuffle(entries)
    Path(args.book).parent.mkdir(parents=True, exist_ok=True)
    Path(args.book).write_text("\n".join(blind(n, kind, abc) for n, (_, kind, abc) in enumerate(entries, 1)))
    key_path.write_text(json.dumps([(n, who, kind) for n, (who, kind, _) in enumerate(entries, 1)]))
    print(f"wrote {len(entries)} tunes to {args.book}; the key is in {key_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
