"""Do sampled tunes look like the real ones? Musical figures of held-out tunes and of tunes the model
writes under the same headers, side by side.

For N validation tunes of the folk corpus, the model writes one tune under each one's own header
(M, L, K, Q) twice: (a) raw, the full-precision model sampled by a plain loop with no masks, and (b)
through the app's compose path (bar clock, repairs, resampling; default settings). `--presets`
samples under the app's tune types instead (meter, unit, tempo, typical form), in the validation
tunes' keys. Figures per column, from `abcgen.judge.analysis`: share of bars that recur elsewhere in
their tune, tunes ending on the tonic of K:, notes in the key's scale, parts, repeats, note
lengths, intervals, range, and the longest passage shared with a training tune; last, a
classifier two-sample test: logistic regression on the per-tune figures, 5-fold cross-validated
accuracy at telling the model's tunes from the real ones (0.5 = indistinguishable).

    python -m benchmarks.musicality [--num 64] [--seed 0] [--checkpoint FILE] [--presets] [--json]
    python -m benchmarks.musicality --compare OLD.pt NEW.pt
"""
from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

import numpy as np
import torch

from abcgen.abc import header as abcfields
from abcgen.judge.analysis import LENGTH_BINS, analyse
from abcgen.compose import compose
from abcgen.learn.data import load_corpus
from abcgen.errors import FieldError
from abcgen.judge.originality import CACHE_DIR, NEW_BELOW, default_index
from abcgen.sampling.sample import CODE_LIMIT, Header, Settings, close_at_last_bar, load_sampler
from abcgen.tune_types import TUNE_TYPES
from abcgen.learn.vocab import END


def validation_tunes(num: int, seed: int) -> list[tuple[str, Header]]:
    """`num` held-out tunes (all when there are fewer) with their headers."""
    corpus = load_corpus("folk", abc2midi=False, cache_dir=CACHE_DIR)
    tunes = list(corpus.valid)
    random.Random(seed).shuffle(tunes)
    out = []
    for t in tunes:
        fields = dict(abcfields.split_tune(t.abc)[0])
        try:
            header = Header.parse(fields.get("M"), fields.get("L"), fields.get("K"), fields.get("Q"))
        except FieldError:
            continue
        out.append((t.abc, header))
        if len(out) == num:
            break
    return out


def preset_requests(headers: list[Header]) -> list[tuple[Header, str]]:
    """The app's tune types in turn, each in the next validation tune's key, with its form."""
    types = list(TUNE_TYPES.values())
    return [(Header.parse(tt.meter, tt.unit, h.key, tt.tempo), tt.form)
            for tt, h in zip((types[i % len(types)] for i in range(len(headers))), headers)]


@torch.no_grad()
def raw_samples(path, headers: list[Header], seed: int, max_chars: int = 1200,
                temperature: float = 1.0) -> list[str]:
    """One tune per header from the full-precision model with no masks: the model writes its form
    code, the header is put in when it starts one (X), and the body runs to the end-of-tune symbol
    or the length cap. The state is opaque: every row starts from the same prompt in one batch."""
    from abcgen.learn import checkpoint
    model, vocab, _ = checkpoint.load(path)
    n = len(headers)
    gen = torch.Generator().manual_seed(seed)
    logits, state = model(torch.full((n, 1), vocab.end_id, dtype=torch.long))
    rows = [{"code": "", "forced": [], "body": "", "in_body": False, "done": False} for _ in headers]
    for _ in range(max_chars + CODE_LIMIT + 60):
        probs = torch.softmax(logits[:, -1].float() / temperature, -1)
        picks = torch.multinomial(probs, 1, generator=gen).squeeze(1).tolist()
        for r, row in enumerate(rows):
            c = vocab.chars[picks[r]]
            if row["done"]:
                continue
            if not row["in_body"] and (c == "X" or len(row["code"]) >= CODE_LIMIT):
                row["in_body"] = True
                row["forced"] = list(headers[r].prompt()[1 if c == "X" else 0:])
                if c != "X":
                    c = row["forced"].pop(0)
            elif row["forced"]:
                c = row["forced"].pop(0)
            elif not row["in_body"]:
                row["code"] += c
            elif c == END or len(row["body"]) >= max_chars:
                row["done"] = True
                row["ended"] = c == END
            else:
                row["body"] += c
            picks[r] = vocab.index[c]
        if all(row["done"] for row in rows):
            break
        logits, state = model(torch.tensor(picks).unsqueeze(1), state)
    out = []
    for h, row in zip(headers, rows):
        body = row["body"] if row.get("ended") else close_at_last_bar(row["body"])[0]
        out.append(h.full() + body)
    return out


def compose_samples(sampler, requests: list[tuple[Header, str]], seed: int) -> list[str]:
    """One tune per request through the app's compose path, default settings."""
    return [compose(sampler, header, "", form, Settings(seed=seed + i))[0].abc
            for i, (header, form) in enumerate(requests)]


FEATURES = ["recurring", "tonic", "in_scale", "parts", "repeats", "bars", "interval", "range"] + [
    f"len {b}" for b in LENGTH_BINS]


def features(report) -> dict:
    """The figures of one tune the classifier sees."""
    span = (report.highest_midi - report.lowest_midi) if report.lowest_midi is not None else 0
    f = {"recurring": report.recurring_share, "tonic": float(bool(report.ends_on_tonic)),
         "in_scale": report.in_scale or 0.0, "parts": len(report.parts),
         "repeats": report.repeats, "bars": report.bars, "interval": report.mean_interval or 0.0,
         "range": span}
    f.update({f"len {b}": report.note_lengths.get(b, 0.0) for b in LENGTH_BINS})
    return f


def figures(reports) -> dict:
    """Figures of a set of tunes; note lengths are shares of all notes of the set."""
    notes = sum(r.notes for r in reports) or 1
    shared = [r.originality.shared_bars for r in reports if r.originality]
    fig = {
        "tunes": len(reports),
        "bars that recur elsewhere in the tune": np.mean([r.recurring_share for r in reports]),
        "tunes ending on the tonic of K:": np.mean([bool(r.ends_on_tonic) for r in reports]),
        "notes in the key's scale": np.mean([r.in_scale or 0 for r in reports]),
        "parts per tune": np.mean([len(r.parts) for r in reports]),
        "tunes with 2 or more parts": np.mean([len(r.parts) >= 2 for r in reports]),
        "tunes with repeats": np.mean([r.repeats > 0 for r in reports]),
        "bars per tune, as written": np.mean([r.bars for r in reports]),
    }
    for b in LENGTH_BINS:
        fig[f"notes of {b} units"] = sum(r.note_lengths.get(b, 0) * r.notes for r in reports) / notes
    fig["mean absolute interval, semitones"] = np.mean(
        [r.mean_interval for r in reports if r.mean_interval is not None] or [0])
    fig["pitch range, semitones"] = np.mean(
        [r.highest_midi - r.lowest_midi for r in reports if r.lowest_midi is not None] or [0])
    fig["longest passage shared with a training tune, bars"] = np.mean(shared or [0])
    fig[f"tunes sharing {NEW_BELOW}+ bars with a training tune"] = np.mean(
        [s >= NEW_BELOW for s in shared] or [0])
    return {k: float(v) for k, v in fig.items()}


def two_sample_accuracy(real, made, seed: int) -> float:
    """5-fold cross-validated accuracy of a logistic regression telling `made` from `real` (fewer
    folds for tiny runs; NaN below two tunes a side)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    x = np.array([[f[k] for k in FEATURES] for f in real + made], dtype=float)
    y = np.array([0] * len(real) + [1] * len(made))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    k = min(5, len(real), len(made))
    if k < 2:
        return float("nan")
    folds = StratifiedKFold(k, shuffle=True, random_state=seed)
    return float(cross_val_score(model, x, y, cv=folds, scoring="accuracy").mean())


def run_checkpoint(path, headers, requests, seed: int, index) -> dict:
    """Raw and compose-path columns for one checkpoint: (tunes, reports, seconds to sample)."""
    cols = {}
    t0 = time.time()
    raw = raw_samples(path, headers, seed)
    cols["raw model"] = (raw, [analyse(a, index) for a in raw], time.time() - t0)
    t0 = time.time()
    made = compose_samples(load_sampler(path), requests, seed)
    cols["compose path"] = (made, [analyse(a, index) for a in made], time.time() - t0)
    return cols


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num", type=int, default=64, help="tunes per column")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default: the shipped one)")
    p.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), help="two checkpoints side by side")
    p.add_argument("--presets", "--forms", action="store_true",
                   help="sample under the app's tune types and their typical forms")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--abc-out", default=None, help="also write each column's tunes to DIR/<column>.abc")
    p.add_argument("--threads", type=int, default=1, help="torch threads (sampling is step by step)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    index = default_index(build=True)
    real = validation_tunes(args.num, args.seed)
    headers = [h for _, h in real]
    requests = preset_requests(headers) if args.presets else [(h, "") for h in headers]
    sample_headers = [h for h, _ in requests]
    columns = {"validation tunes": ([a for a, _ in real], [analyse(a, index) for a, _ in real], 0.0)}
    checkpoints = args.compare or [args.checkpoint]
    for path in checkpoints:
        for name, col in run_checkpoint(path, sample_headers, requests, args.seed, index).items():
            columns[f"{path} {name}" if args.compare else name] = col
    if args.abc_out:
        out = Path(args.abc_out)
        out.mkdir(parents=True, exist_ok=True)
        for name, (tunes, _, _) in columns.items():
            (out / (re.sub(r"[^\w.-]+", "_", name) + ".abc")).write_text("\n".join(tunes))
    real_features = [features(r) for r in columns["validation tunes"][1]]
    table = {}
    for name, (_, reports, seconds) in columns.items():
        table[name] = figures(reports)
        if name != "validation tunes":
            table[name]["classifier accuracy vs validation (0.5 = same)"] = two_sample_accuracy(
                real_features, [features(r) for r in reports], args.seed)
            table[name]["seconds to sample"] = seconds
    if args.json:
        print(json.dumps({name: {k: None if v != v else v for k, v in col.items()}
                          for name, col in table.items()}, indent=1))
        return
    what = "app tune types and forms" if args.presets else "the validation tunes' own headers"
    print(f"{len(real)} validation tunes vs tunes sampled under {what} (seed {args.seed})")
    names = list(table)
    rows = list(dict.fromkeys(k for col in table.values() for k in col))
    width = max(14, *(len(n) for n in names))
    print(f"{'':52s}" + "".join(f"{n:>{width + 2}s}" for n in names))
    for row in rows:
        cells = []
        for n in names:
            v = table[n].get(row)
            cells.append("" if v is None else _cell(row, v))
        print(f"{row:52s}" + "".join(f"{c:>{width + 2}s}" for c in cells))


def _cell(row: str, v: float) -> str:
    if v != v:
        return "n/a"
    if row.startswith(("tunes with", "tunes ending", "tunes sharing", "bars that", "notes ",
                       "classifier")):
        return f"{v:.1%}" if not row.startswith("classifier") else f"{v:.2f}"
    return f"{v:.0f}" if row in ("tunes", "seconds to sample") else f"{v:.2f}"


if __name__ == "__main__":
    main()
