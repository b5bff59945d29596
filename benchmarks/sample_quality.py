"""How good are sampled tunes? Parse rates and bar-length accuracy of tunes from a checkpoint.

Samples tunes at temperature 1.0 across tune types (reel, jig, slip jig, hornpipe, polka, waltz)
and common keys, and prints, for raw samples (no resampling) and for the app's default pipeline
(up to 2 resampling rounds for tunes that fail), side by side:
  * the share that music21 parses,
  * the share that abc2midi (Debian package abcmidi) reads without errors,
  * the share that passes the project's validator (and abc2midi),
  * the share of bars whose length is what the meter asks for (pickup and final bars excepted).

    python -m benchmarks.sample_quality [--tunes 200] [--checkpoint P]
"""
import argparse
import itertools
import re
import time
from collections import Counter

from abcgen.compose import compose
from abcgen.sampling.asked import Header, Settings
from abcgen.sampling.sample import load_sampler

TYPES = {  # tune type: (meter, unit)
    "reel": ("4/4", "1/8"), "jig": ("6/8", "1/8"), "slip jig": ("9/8", "1/8"),
    "hornpipe": ("4/4", "1/8"), "polka": ("2/4", "1/8"), "waltz": ("3/4", "1/8"),
}
KEYS = ["D", "G", "A", "Ador", "Edor", "Emin", "Bmin", "Dmix", "C", "F"]


def sample(sampler, n: int, per_batch: int, temperature: float, retries: int):
    """(type, Tune) pairs: every type in turn, each time with the next key."""
    tunes, seed = [], 0
    for (kind, (meter, unit)), key in zip(itertools.cycle(TYPES.items()), itertools.cycle(KEYS)):
        if len(tunes) >= n:
            break
        k = min(per_batch, n - len(tunes))
        got = compose(sampler, Header.parse(meter, unit, key), "", "",
                      Settings(temperature, 0, 1.0, seed, 1200, k), retries=retries)
        tunes += [(kind, t) for t in got]
        seed += 1
    return tunes


def rates(tunes) -> dict:
    n = len(tunes)
    abc2midi_bad = sum(any(p.message.startswith("abc2midi") for p in t.report.errors) for _, t in tunes)
    bars = sum(t.report.bars_checked for _, t in tunes)
    return {
        "music21 parses": sum(t.report.parsed for _, t in tunes) / n,
        "abc2midi without errors": 1 - abc2midi_bad / n,
        "music21 and abc2midi": sum(t.report.parsed and not any(p.message.startswith("abc2midi")
                                                                for p in t.report.errors) for _, t in tunes) / n,
        "validator passes": sum(t.report.valid for _, t in tunes) / n,
        "bars of the right length": sum(t.report.bars_ok for _, t in tunes) / max(1, bars),
        "ended by the model": sum(t.candidate.ended for _, t in tunes) / n,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tunes", type=int, default=200)
    p.add_argument("--per-batch", type=int, default=4, help="candidates sampled together per setting")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--temperature", type=float, default=1.0)
    args = p.parse_args()
    sampler = load_sampler(args.checkpoint)
    results = {}
    for retries in (0, 2):
        t0 = time.time()
        tunes = sample(sampler, args.tunes, args.per_batch, args.temperature, retries)
        results[retries] = (rates(tunes), time.time() - t0, tunes)
    print(f"{args.tunes} tunes at temperature {args.temperature}, {len(TYPES)} tune types x {len(KEYS)} keys")
    print(f"{'':28s} {'raw samples':>12s} {'2 resamplings':>14s}")
    for name in results[0][0]:
        print(f"{name:28s} {results[0][0][name]:12.1%} {results[2][0][name]:14.1%}")
    print(f"{'seconds':28s} {results[0][1]:12.0f} {results[2][1]:14.0f}")
    raw = results[0][2]
    by_kind = Counter(k for k, t in raw if t.report.valid)
    print("raw valid by type: " + ", ".join(f"{k} {by_kind[k]}/{sum(1 for kk, _ in raw if kk == k)}" for k in TYPES))
    problems = Counter(re.sub(r"\d+", "N", p.message)[:70] for _, t in raw for p in t.report.errors)
    print("most common errors in raw samples: " + "; ".join(f"{m} ({c})" for m, c in problems.most_common(6)))


if __name__ == "__main__":
    main()
