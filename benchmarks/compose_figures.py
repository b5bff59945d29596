"""What the compose path hands musicians, in figures: 8 headers x 8 tunes, each tune from its own
call as a musician's Compose makes it (`python -m abcgen.generate`'s call and default settings: one
tune, the best of a first batch with spare candidates; seeds 0, 1, ...), with no form, or with each
tune type's own meter, unit, tempo and form and the type itself (`--presets`: reel, hornpipe, strathspey, jig, polka,
waltz, slip jig). Per tune, from the musical report (`abcgen.judge.analysis`): the share of bars
that recur elsewhere in the tune, landing on the tonic of K: (the cadence, on the beat), two or
more parts, the largest chord, validity, tunes closed at the length cap instead of by the model;
loops (4 or fewer different bars, one bar 3 times running, one bar over a quarter of the tune),
bars 5-6 bringing back bars 1-2, bars with dotted pairs, and (`--presets`) how often
`benchmarks.type_voice`'s recognizer, trained on human tunes, names the type.

    python -m benchmarks.compose_figures [--presets] [--per-header 8] [--checkpoint FILE] [--json]
"""
from __future__ import annotations

import argparse
import json
import time

from abcgen.compose import compose
from abcgen.judge.phrases import FEW_BARS, LOOP_RUN, LOOP_SHARE
from abcgen.sampling.asked import Header, Settings
from abcgen.sampling.sample import load_sampler
from benchmarks.type_voice import Recognizer, human_tunes, type_request

HEADERS = [("4/4", "D"), ("6/8", "G"), ("2/4", "A"), ("3/4", "Ador"), ("9/8", "Edor"), ("4/4", "Dmix"),
           ("6/8", "Emin"), ("2/2", "Bmin")]
PRESET_TYPES = ("reel", "hornpipe", "strathspey", "jig", "polka", "waltz", "slip jig")
KEYS = ("D", "G", "A", "Ador", "Edor", "Dmix", "Emin", "Bmin")


def runs(presets: bool):
    """(label, type, header, form) for each batch."""
    if presets:
        for name, key in zip(PRESET_TYPES, KEYS):
            header, form = type_request(name, key)
            yield f"{name} {key} {form}", name, header, form
    else:
        for meter, key in HEADERS:
            yield f"{meter} {key}", "", Header.parse(meter, "1/8", key), ""


def row(label: str, kind: str, t) -> dict:
    m = t.music
    return {"header": label, "type": kind, "abc": t.abc, "music": m, "recurring": m.recurring_share,
            "tonic": bool(m.ends_on_tonic), "parts": len(m.parts), "chord": m.max_chord_notes, "valid": t.valid,
            "capped": not t.candidate.ended, "plays_as": m.plays_as, "few": m.loops.distinct <= FEW_BARS,
            "run": m.loops.run >= LOOP_RUN, "over_quarter": m.loops.top_share > LOOP_SHARE,
            "answers": bool(m.answers), "dotted": m.dotted_share * m.bars, "bars": m.bars}


def share(rows, key) -> float:
    return sum(r[key] for r in rows) / len(rows) if rows else 0.0


def summary(rows, seconds: float) -> dict:
    return {
        "tunes": len(rows),
        "bars_recurring": share(rows, "recurring"),
        "ends_on_tonic": share(rows, "tonic"),
        "two_or_more_parts": sum(r["parts"] >= 2 for r in rows) / len(rows),
        "largest_chord": max(r["chord"] for r in rows),
        "valid": share(rows, "valid"),
        "closed_at_length_cap": share(rows, "capped"),
        f"tunes_with_{FEW_BARS}_or_fewer_bars": sum(r["few"] for r in rows),
        f"one_bar_{LOOP_RUN}_times_running": share(rows, "run"),
        "one_bar_over_a_quarter": share(rows, "over_quarter"),
        "bars_5_6_answer_1_2": share(rows, "answers"),
        "bars_with_dotted_pairs": sum(r["dotted"] for r in rows) / max(1, sum(r["bars"] for r in rows)),
        "seconds": round(seconds, 1),
    }


def recognized(rows) -> dict[str, float]:
    """Per type the recognizer knows: the share of its tunes recognized as that type."""
    recognizer = Recognizer(human_tunes()[0])
    out = {}
    for kind in dict.fromkeys(r["type"] for r in rows):
        if kind in recognizer.types:
            mine = [(r["abc"], kind, r["music"]) for r in rows if r["type"] == kind]
            out[kind] = sum(g == kind for g in recognizer.predict(mine)) / len(mine)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", action="store_true", help="the tune types with their own forms")
    p.add_argument("--per-header", type=int, default=8)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    sampler = load_sampler(args.checkpoint)
    rows, t0 = [], time.time()
    for label, kind, header, form in runs(args.presets):
        last = [row(label, kind, compose(sampler, header, "", form, Settings(seed=seed))[0])
                for seed in range(args.per_header)]
        rows += last
        print(f"{label:24s} recurring {share(last, 'recurring'):5.0%}  tonic {sum(r['tonic'] for r in last)}/{len(last)}"
              f"  {LOOP_RUN} running {sum(r['run'] for r in last)}  over 1/4 {sum(r['over_quarter'] for r in last)}"
              f"  5-6 answer {sum(r['answers'] for r in last)}  dotted bars {share(last, 'dotted') / max(1, share(last, 'bars')):4.0%}"
              f"  plays {', '.join(r['plays_as'] for r in last)}", flush=True)
    result = summary(rows, time.time() - t0)
    if args.presets:
        result["recognized_as_their_type"] = recognized(rows)
    if args.json:
        print(json.dumps(result))
        return
    for k, v in result.items():
        if isinstance(v, dict):
            print(f"{k:32s} " + ", ".join(f"{t} {x:.0%}" for t, x in v.items()))
        else:
            print(f"{k:32s} {v:.1%}" if isinstance(v, float) and k != "seconds" else f"{k:32s} {v}")


if __name__ == "__main__":
    main()
