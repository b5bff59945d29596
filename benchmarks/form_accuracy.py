"""Does the model follow a requested form? For each requested control code, samples tunes and
prints how often the generated tune's computed S equals the request, and how often every B does.

    python -m benchmarks.form_accuracy [--tunes 100] [--checkpoint P]
"""
import argparse
import itertools
import time

from abcgen import form as formtools
from abcgen.compose import compose
from abcgen.sample import Header, Settings, load_sampler

FORMS = {
    "AABB reel, 8 bars": ("S:2 B:8 E:5 B:8", ("4/4", "1/8"), ["D", "G", "A", "Ador"]),
    "AABB jig, 8 bars": ("S:2 B:8 E:5 B:8", ("6/8", "1/8"), ["D", "G", "Edor", "Dmix"]),
    "AABB jig, 8 bars + pickup": ("S:2 B:9 E:5 B:9", ("6/8", "1/8"), ["D", "G", "Edor", "Dmix"]),
    "AB, 16 bars": ("S:2 B:16 E:6 B:16", ("4/4", "1/8"), ["D", "G", "Emin"]),
    "3 parts slip jig": ("S:3 B:8 E:5 B:8 E:5 E:5 B:8", ("9/8", "1/8"), ["D", "G", "Ador"]),
    "one part, 16 bars": ("S:1 B:16", ("3/4", "1/8"), ["D", "G", "F"]),
    "two parts, model picks bars": ("S:2", ("2/4", "1/8"), ["D", "G", "A"]),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tunes", type=int, default=100, help="tunes per form")
    p.add_argument("--per-batch", type=int, default=10)
    p.add_argument("--checkpoint", default=None)
    args = p.parse_args()
    sampler = load_sampler(args.checkpoint)
    print(f"{'form':30s} {'requested':32s} {'S match':>8s} {'all B match':>12s} {'valid':>6s}")
    for name, (code, (meter, unit), keys) in FORMS.items():
        requested = formtools.parse_code(code)
        s_ok = b_ok = valid = n = seed = 0
        t0 = time.time()
        for key in itertools.cycle(keys):
            if n >= args.tunes:
                break
            k = min(args.per_batch, args.tunes - n)
            tunes = compose(sampler, Header.parse(meter, unit, key), "", code,
                            Settings(1.0, 0, 1.0, seed, 1500, k), retries=0)
            seed += 1
            for t in tunes:
                got = formtools.matches(requested, formtools.body_form(t.candidate.body))
                s_ok += bool(got["sections"])
                b_ok += bool(got["bars"]) if got["bars"] is not None else 0
                valid += t.valid
                n += 1
        b_text = f"{b_ok / n:12.0%}" if requested.bars else f"{'(not asked)':>12s}"
        print(f"{name:30s} {code:32s} {s_ok / n:8.0%} {b_text} {valid / n:6.0%}   ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
