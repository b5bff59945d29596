"""Does the critic choose better tunes? Candidates sampled for each tune type (its meter, unit,
form and the type, as `benchmarks.compose_figures --presets` asks), checked as the compose path
checks them, then the best of each group of `--group` chosen twice: by the compose path's ranking
without the critic (valid, not looping, landing on the tonic, bars of the right length) and with
it (`abcgen.judge.critic`). Figures of the two choices side by side, judged by what the critic
does not read: the two-sample classifier of `benchmarks.musicality` against held-out human tunes
(0.5 = indistinguishable), type recognition (`benchmarks.type_voice`), dotted pairs; and by what
it does read, for the record: loops, bars 5-6 answering 1-2, tonic cadences.

    python -m benchmarks.critic_choice [--per-type 16] [--group 4] [--seed 0] [--checkpoint FILE]
"""
from __future__ import annotations

import argparse

import numpy as np

from abcgen import compose as composer
from abcgen.abc import form as formtools
from abcgen.judge.analysis import analyse
from abcgen.judge import critic
from abcgen.sampling.asked import Settings
from abcgen.sampling.sample import load_sampler
from benchmarks.compose_figures import KEYS, PRESET_TYPES
from benchmarks.musicality import features, phrase_figures, two_sample_accuracy, validation_tunes
from benchmarks.type_voice import Recognizer, human_tunes, type_request


def without_critic(t: composer.Tune):
    r = t.report
    share = r.bars_ok / r.bars_checked if r.bars_checked else 0.0
    return (not r.valid, bool(t.loop), not bool(t.music and t.music.ends_on_tonic), -share,
            not t.candidate.ended, len(r.warnings))


def dotted(rows, kind: str) -> float:
    """Share of the bars of the chosen tunes of `kind` that hold a dotted pair."""
    mine = [t.music for k, t in rows if k == kind]
    return sum(r.dotted_share * r.bars for r in mine) / max(1, sum(r.bars for r in mine))


def choices(sampler, per_type: int, group: int, seed: int):
    """{"without critic": [(type, tune)], "with critic": [...]} over every group of candidates."""
    picked = {"without critic": [], "with critic": []}
    for i, name in enumerate(PRESET_TYPES):
        header, form = type_request(name, KEYS[i % len(KEYS)])
        candidates = sampler.sample(header, "", form, Settings(seed=seed + i, num=per_type))
        tunes = [composer.check(c, formtools.parse_form(form).code) for c in candidates]
        for g in range(0, len(tunes) - group + 1, group):
            some = tunes[g:g + group]
            picked["without critic"].append((name, min(some, key=without_critic)))
            picked["with critic"].append((name, min(some, key=composer.rank_key)))
    return picked


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-type", type=int, default=16, help="candidates sampled per type (at most 16)")
    p.add_argument("--group", type=int, default=4, help="candidates each choice is made among")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None)
    args = p.parse_args(argv)
    picked = choices(load_sampler(args.checkpoint), args.per_type, args.group, args.seed)
    real = [features(analyse(a, originality=False)) for a, _, _ in validation_tunes(64, args.seed)]
    recognizer = Recognizer(human_tunes()[0])
    table = {}
    for name, rows in picked.items():
        reports = [t.music for _, t in rows]
        fig = {"tunes": len(rows), "tunes that differ from the other choice": 0.0}
        fig.update(phrase_figures(reports))
        fig["bars with a dotted pair, reels"] = dotted(rows, "reel")
        fig["bars with a dotted pair, hornpipes"] = dotted(rows, "hornpipe")
        fig["bars with a dotted pair, strathspeys"] = dotted(rows, "strathspey")
        fig["tunes landing on the tonic"] = float(np.mean([bool(r.ends_on_tonic) for r in reports]))
        fig["mean critic score"] = float(np.mean([critic.score(t.music, kind) for kind, t in rows]))
        known = [(t.abc, kind, t.music) for kind, t in rows if kind in recognizer.types]
        fig["recognized as their type"] = float(np.mean([g == k for g, (_, k, _) in
                                                         zip(recognizer.predict(known), known)]))
        fig["classifier accuracy vs held-out tunes (0.5 = same)"] = two_sample_accuracy(
            real, [features(r) for r in reports], args.seed)
        table[name] = fig
    differ = [a.abc != b.abc for (_, a), (_, b) in zip(*picked.values())]
    for fig in table.values():
        fig["tunes that differ from the other choice"] = float(np.mean(differ))
    print(f"best of {args.group}, {len(differ)} choices over {', '.join(PRESET_TYPES)}")
    print(f"{'':52s}" + "".join(f"{n:>18s}" for n in table))
    for row in next(iter(table.values())):
        cells = [table[n][row] for n in table]
        fmt = (lambda v: f"{v:.0f}") if row == "tunes" else (lambda v: f"{v:.2f}") if "score" in row or "classifier" in row \
            else (lambda v: f"{v:.1%}")
        print(f"{row:52s}" + "".join(f"{fmt(v):>18s}" for v in cells))


if __name__ == "__main__":
    main()
