"""What the compose path hands musicians, in figures: 8 headers x 8 tunes through the same call as
`python -m abcgen.generate` (default settings), with no form, or with each tune type's typical form
(`--presets`, 8 tune types of the app). Per tune, from the musical report (`abcgen.judge.analysis`):
the share of bars that recur elsewhere in the tune, ending on the tonic of K:, two or more parts,
the largest chord, validity, and tunes closed at the length cap instead of by the model.

    python -m benchmarks.compose_figures [--presets] [--per-header 8] [--checkpoint FILE] [--json]
"""
from __future__ import annotations

import argparse
import json
import time

from abcgen.compose import compose
from abcgen.sampling.sample import Header, Settings, load_sampler
from abcgen.tune_types import TUNE_TYPES

HEADERS = [("4/4", "D"), ("6/8", "G"), ("2/4", "A"), ("3/4", "Ador"), ("9/8", "Edor"), ("4/4", "Dmix"),
           ("6/8", "Emin"), ("2/2", "Bmin")]
PRESET_TYPES = ("reel", "jig", "slip jig", "hornpipe", "polka", "slide", "waltz", "march")
KEYS = ("D", "G", "A", "Ador", "Edor", "Dmix", "Emin", "Bmin")


def runs(presets: bool):
    """(label, header, form) for each batch."""
    if presets:
        for name, key in zip(PRESET_TYPES, KEYS):
            t = TUNE_TYPES[name]
            yield f"{name} {key} {t.form}", Header.parse(t.meter, t.unit, key, t.tempo), t.form
    else:
        for meter, key in HEADERS:
            yield f"{meter} {key}", Header.parse(meter, "1/8", key), ""


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", action="store_true", help="the app's tune types with their typical forms")
    p.add_argument("--per-header", type=int, default=8)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    sampler = load_sampler(args.checkpoint)
    rows, t0 = [], time.time()
    for label, header, form in runs(args.presets):
        tunes = compose(sampler, header, "", form, Settings(seed=len(rows), num=args.per_header))
        for t in tunes:
            m = t.music
            rows.append({"header": label, "recurring": m.recurring_share, "tonic": bool(m.ends_on_tonic),
                         "parts": len(m.parts), "chord": m.max_chord_notes, "valid": t.valid,
                         "capped": not t.candidate.ended, "plays_as": m.plays_as})
        last = rows[-len(tunes):]
        print(f"{label:24s} recurring {sum(r['recurring'] for r in last) / len(last):5.0%}  "
              f"tonic {sum(r['tonic'] for r in last)}/{len(last)}  "
              f"plays {', '.join(r['plays_as'] for r in last)}", flush=True)
    n = len(rows)
    summary = {
        "tunes": n,
        "bars_recurring": sum(r["recurring"] for r in rows) / n,
        "ends_on_tonic": sum(r["tonic"] for r in rows) / n,
        "two_or_more_parts": sum(r["parts"] >= 2 for r in rows) / n,
        "largest_chord": max(r["chord"] for r in rows),
        "valid": sum(r["valid"] for r in rows) / n,
        "closed_at_length_cap": sum(r["capped"] for r in rows) / n,
        "seconds": round(time.time() - t0, 1),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k:22s} {v:.1%}" if isinstance(v, float) and k != "seconds" else f"{k:22s} {v}")


if __name__ == "__main__":
    main()
