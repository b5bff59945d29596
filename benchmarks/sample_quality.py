"""How good are sampled tunes? Parse rates and bar-length accuracy of tunes from a checkpoint.

Samples tunes at temperature 1.0 across tune types (reel, jig, slip jig, hornpipe, polka, waltz)
and common keys, with no resampling (retries=0), and prints:
  * the share that music21 parses and the project's validator passes,
  * the share that abc2midi (Debian package abcmidi) converts without errors,
  * the share of bars whose length is what the meter asks for (pickup and final bars excepted).

    python -m benchmarks.sample_quality [--tunes 200] [--checkpoint P]
"""
import argparse
import itertools
import time
from collections import Counter

from abcgen import abc as abctools
from abcgen.compose import compose
from abcgen.sample import Header, Settings, load_sampler

TYPES = {  # tune type: (meter, unit)
    "reel": ("4/4", "1/8"), "jig": ("6/8", "1/8"), "slip jig": ("9/8", "1/8"),
    "hornpipe": ("4/4", "1/8"), "polka": ("2/4", "1/8"), "waltz": ("3/4", "1/8"),
}
KEYS = ["D", "G", "A", "Ador", "Edor", "Emin", "Bmin", "Dmix", "C", "F"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tunes", type=int, default=200)
    p.add_argument("--per-batch", type=int, default=4, help="candidates sampled together per setting")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--temperature", type=float, default=1.0)
    args = p.parse_args()
    sampler = load_sampler(args.checkpoint)
    # Every type in turn, each time with the next key: all types and keys are covered evenly.
    settings_cycle = zip(itertools.cycle(TYPES.items()), itertools.cycle(KEYS))
    tunes, t0, seed = [], time.time(), 0
    while len(tunes) < args.tunes:
        (kind, (meter, unit)), key = next(settings_cycle)
        header = Header.parse(meter, unit, key, title=f"{kind} in {key}")
        n = min(args.per_batch, args.tunes - len(tunes))
        got = compose(sampler, header, "", "", Settings(args.temperature, 0, 1.0, seed, 1200, n), retries=0)
        tunes += [(kind, t) for t in got]
        seed += 1
    elapsed = time.time() - t0

    parsed = sum(t.report.parsed for _, t in tunes)
    valid = sum(t.report.valid for _, t in tunes)
    abc2midi = [abctools.abc2midi_errors(t.abc) for _, t in tunes]
    have_abc2midi = abc2midi[0] is not None
    # abc2midi's warnings (a pickup bar inside a repeat, say) are not errors: count "Error" lines.
    clean = sum(1 for e in abc2midi if not [m for m in e or [] if m.startswith("Error")]) if have_abc2midi else 0
    bars = sum(t.report.bars_checked for _, t in tunes)
    bars_ok = sum(t.report.bars_ok for _, t in tunes)
    ended = sum(t.candidate.ended for _, t in tunes)
    n = len(tunes)
    print(f"{n} tunes sampled in {elapsed:.0f} s at temperature {args.temperature} (no resampling)")
    print(f"music21 parses:            {parsed / n:6.1%}")
    print(f"project validator passes:  {valid / n:6.1%}")
    if have_abc2midi:
        print(f"abc2midi without errors:   {clean / n:6.1%}")
    else:
        print("abc2midi without errors:   (abc2midi not installed: apt-get install abcmidi)")
    print(f"bars of the right length:  {bars_ok / max(1, bars):6.1%}  ({bars_ok} of {bars}, pickup and final bars excepted)")
    print(f"ended by the model:        {ended / n:6.1%}  (the rest closed at the length cap)")
    by_kind = Counter(k for k, t in tunes if t.report.valid)
    print("valid by type: " + ", ".join(f"{k} {by_kind[k]}/{sum(1 for kk, _ in tunes if kk == k)}" for k in TYPES))
    problems = Counter(abctools_kind(p.message) for _, t in tunes for p in t.report.errors)
    if problems:
        print("most common errors: " + "; ".join(f"{m} ({c})" for m, c in problems.most_common(5)))
    if have_abc2midi:
        msgs = Counter(abctools_kind(m) for e in abc2midi for m in (e or []) if m.startswith("Error"))
        if msgs:
            print("most common abc2midi errors: " + "; ".join(f"{m} ({c})" for m, c in msgs.most_common(5)))


def abctools_kind(message: str) -> str:
    import re
    return re.sub(r"\d+", "N", message)[:70]


if __name__ == "__main__":
    main()
