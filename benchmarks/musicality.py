"""Do sampled tunes look like the real ones? Musical figures of held-out tunes and of tunes the model
writes under the same headers, side by side.

For N validation tunes of the folk corpus, the model writes one tune under each one's own header
(M, L, K, Q, and the type its R: names where the sampler takes one) twice: (a) raw, the
full-precision model sampled by a plain loop with no masks on the music, given the tune's own
prefix (type line and form code, as training put them; its form code is context, as in
`abcgen.evaluate`), and (b) through the app's compose path (bar clock, repairs, resampling; default
settings). `--presets` samples under the app's tune types instead (meter, unit, tempo, typical
form, and the type), in the validation tunes' keys, and adds a table per type. Figures per column,
from `abcgen.judge.analysis`: share of bars that recur elsewhere in their tune, tunes landing on
the tonic of K: (the cadence: the last bar's last beat) and whose last note is the tonic, notes in
the key's scale, parts, repeats, note lengths, intervals, range, the longest passage shared with a
training tune, loops (4 or fewer different bars, one bar 3 times running, one bar over a quarter of
the tune), bars 5-6 bringing back 1-2, the B part above the A part, dotted pairs, tunes closed at
the length cap; last, a classifier two-sample test: logistic regression on the per-tune figures of
`FEATURES` (unchanged, so old and new runs compare), 5-fold cross-validated accuracy at telling
the model's tunes from the real ones (0.5 = indistinguishable). Per type (`--presets`): loops,
answers, dotted pairs and how often `benchmarks.type_voice`'s recognizer names the type.

    python -m benchmarks.musicality [--num 64] [--seed 0] [--checkpoint FILE] [--presets] [--json]
    python -m benchmarks.musicality --compare OLD.pt NEW.pt
"""
from __future__ import annotations

import argparse
import json
import random
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from abcgen.abc import form as formtools
from abcgen.abc import header as abcfields
from abcgen.judge.analysis import LENGTH_BINS, analyse
from abcgen.compose import compose
from abcgen.learn.data import load_corpus
from abcgen.errors import FieldError
from abcgen.judge.originality import CACHE_DIR, NEW_BELOW, default_index
from abcgen.sampling.asked import Header, Settings
from abcgen.sampling.sample import CODE_CHARS, CODE_LIMIT, close_at_last_bar, learned_types, load_sampler
from abcgen.judge.phrases import FEW_BARS, LOOP_RUN, LOOP_SHARE
from abcgen.learn.data import type_line
from abcgen.learn.vocab import END
from abcgen.tune_types import TUNE_TYPES, kind_id
from benchmarks.type_voice import Recognizer, human_tunes, type_request


def validation_tunes(num: int, seed: int) -> list[tuple[str, Header, str]]:
    """`num` held-out tunes (all when there are fewer) with their headers (the type their R: names
    included, where the sampler takes one) and their form codes."""
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
        out.append((t.abc, replace(header, kind=t.kind), t.code))
        if len(out) == num:
            break
    return out


@dataclass(frozen=True)
class Request:
    """One tune to write: its header, the form asked of the compose path, the prefix the raw model
    is given (its form code, as in training) and the type it is meant to be ("" none)."""
    header: Header
    form: str = ""
    prefix: str = ""
    kind: str = ""


def own_requests(real) -> list[Request]:
    """The held-out tunes' own headers, and their own prefixes for the raw model."""
    return [Request(h, "", code, h.kind) for _, h, code in real]


def preset_requests(real) -> list[Request]:
    """The app's tune types in turn, each in the next held-out tune's key, with its form."""
    names = list(TUNE_TYPES)
    out = []
    for i, (_, h, _) in enumerate(real):
        name = names[i % len(names)]
        header, form = type_request(name, h.key)
        out.append(Request(header, form, formtools.parse_form(form).code, name))
    return out


@torch.no_grad()
def raw_samples(path, requests: list[Request], seed: int, max_chars: int = 1200,
                temperature: float = 1.0) -> list[tuple[str, bool]]:
    """(tune, ended by the model) per request from the full-precision model with no masks
    on the music. Each row is given its prefix (the type line where the checkpoint learned the type,
    as the sampler gives it, and the form code, as training put them before the tune), then the model finishes the form code in code characters only, as the app's
    sampler lets it, the header is put in when it starts one (X), and the body runs to the
    end-of-tune symbol or the length cap. All rows start from the end-of-tune symbol in one batch."""
    from abcgen.learn import checkpoint
    model, vocab, payload = checkpoint.load(path)
    types = learned_types(payload, vocab)
    n = len(requests)
    gen = torch.Generator().manual_seed(seed)
    code_only = torch.full((len(vocab),), float("-inf"))
    code_only[[vocab.index[c] for c in CODE_CHARS | {"X"} if c in vocab.index]] = 0.0
    kinds = torch.tensor([kind_id(q.kind) if q.kind in types and model.config.kinds else 0 for q in requests])
    logits, state = model(torch.full((n, 1), vocab.end_id, dtype=torch.long), kinds=kinds)
    rows = [{"code": "", "forced": list(prefix), "body": "", "in_body": False, "done": False, "ended": False}
            for prefix in (type_line(q.kind if q.kind in types else "") + q.prefix for q in requests)]
    for _ in range(max_chars + max(len(q.prefix) for q in requests) + CODE_LIMIT + 70):
        scores = logits[:, -1].float() / temperature
        scores = scores + torch.stack([torch.zeros(len(vocab)) if row["in_body"] else code_only for row in rows])
        picks = torch.multinomial(torch.softmax(scores, -1), 1, generator=gen).squeeze(1).tolist()
        for r, row in enumerate(rows):
            c = vocab.chars[picks[r]]
            if row["done"]:
                continue
            if row["forced"]:
                c = row["forced"].pop(0)
            elif not row["in_body"] and (c == "X" or len(row["code"]) >= CODE_LIMIT):
                row["in_body"] = True
                row["forced"] = list(requests[r].header.prompt()[1 if c == "X" else 0:])
                if c != "X":
                    c = row["forced"].pop(0)
            elif not row["in_body"]:
                row["code"] += c
            elif c == END or len(row["body"]) >= max_chars:
                row["done"], row["ended"] = True, c == END
            else:
                row["body"] += c
            picks[r] = vocab.index[c]
        if all(row["done"] for row in rows):
            break
        logits, state = model(torch.tensor(picks).unsqueeze(1), state, kinds=kinds)
    return [(h.full() + (row["body"] if row["ended"] else close_at_last_bar(row["body"])[0]), row["ended"])
            for h, row in zip((q.header for q in requests), rows)]


def compose_samples(sampler, requests: list[Request], seed: int) -> list[str]:
    """One tune per request through the app's compose path, default settings."""
    return [compose(sampler, q.header, "", q.form, Settings(seed=seed + i))[0].abc
            for i, q in enumerate(requests)]


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
    fig.update(phrase_figures(reports))
    return {k: float(v) for k, v in fig.items()}


def phrase_figures(reports) -> dict:
    """Loops, answers, the B part's register, dotted pairs and the last note, for a set of tunes
    (the thresholds are the report's own, `abcgen.judge.phrases`)."""
    bars = sum(r.bars for r in reports) or 1
    share = lambda test: float(np.mean([bool(test(r)) for r in reports] or [0]))
    return {
        "tunes whose last note is the tonic of K:": share(lambda r: r.last_on_tonic),
        f"tunes with {FEW_BARS} or fewer different bars": share(lambda r: r.notes and r.loops.distinct <= FEW_BARS),
        f"tunes playing one bar {LOOP_RUN} times running": share(lambda r: r.loops.run >= LOOP_RUN),
        "tunes with one bar over a quarter of the tune": share(lambda r: r.loops.top_share > LOOP_SHARE),
        "tunes whose bars 5-6 bring back bars 1-2": share(lambda r: r.answers),
        "tunes whose B part sits above the A part": share(lambda r: (r.b_register or 0) > 0),
        "bars with a dotted pair": sum(r.dotted_share * r.bars for r in reports) / bars,
    }


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


@dataclass
class Column:
    tunes: list[str]
    reports: list
    seconds: float = 0.0
    capped: float | None = None     # share of tunes closed at the length cap (raw model)


def run_checkpoint(path, requests: list[Request], seed: int, index) -> dict[str, Column]:
    """Raw and compose-path columns for one checkpoint."""
    t0 = time.time()
    raw = raw_samples(path, requests, seed)
    tunes = [a for a, _ in raw]
    cols = {"raw model": Column(tunes, [analyse(a, index) for a in tunes], time.time() - t0,
                                float(np.mean([not ended for _, ended in raw])))}
    t0 = time.time()
    made = compose_samples(load_sampler(path), requests, seed)
    cols["compose path"] = Column(made, [analyse(a, index) for a in made], time.time() - t0)
    return cols


TYPE_ROWS = (f"{LOOP_RUN} times running", "bar over 25%", f"<= {FEW_BARS} bars", "5-6 answer", "dotted bars",
             "recognized")


def type_figures(rows, recognizer) -> dict:
    """Loops, answers, dotted pairs and type recognition of (abc, type, report) rows of one type."""
    reports = [r for _, _, r in rows]
    fig = phrase_figures(reports)
    guessed = recognizer.predict(rows) if rows and rows[0][1] in recognizer.types else []
    return dict(zip(TYPE_ROWS, (
        fig[f"tunes playing one bar {LOOP_RUN} times running"], fig["tunes with one bar over a quarter of the tune"],
        fig[f"tunes with {FEW_BARS} or fewer different bars"], fig["tunes whose bars 5-6 bring back bars 1-2"],
        fig["bars with a dotted pair"],
        float(np.mean([g == rows[0][1] for g in guessed])) if guessed else float("nan"))), tunes=len(rows))


def per_type(columns: dict[str, Column], requests: list[Request]) -> dict:
    """column -> type -> figures, with the human tunes whose R: names each type as the first column."""
    train, held_out = human_tunes()
    recognizer = Recognizer(train)
    kinds = list(dict.fromkeys(q.kind for q in requests))
    human = train + held_out
    out = {"human tunes (R:)": {k: type_figures([x for x in human if x[1] == k], recognizer) for k in kinds}}
    for name, col in columns.items():
        if name != "validation tunes":
            rows = list(zip(col.tunes, (q.kind for q in requests), col.reports))
            out[name] = {k: type_figures([x for x in rows if x[1] == k], recognizer) for k in kinds}
    return out


def show_per_type(table: dict) -> None:
    for name, types in table.items():
        fit = " (recognized: the recognizer's fit to the tunes it learned from)" if name.startswith("human") else ""
        print(f"\nPer type, {name}{fit}")
        print(f"{'':12s}{'tunes':>6s}" + "".join(f"{r:>18s}" for r in TYPE_ROWS))
        for kind, fig in types.items():
            cells = "".join(f"{'n/a' if fig[r] != fig[r] else f'{fig[r]:.0%}':>18s}" for r in TYPE_ROWS)
            print(f"{kind:12s}{fig['tunes']:>6d}{cells}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num", type=int, default=64, help="tunes per column")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default: the shipped one)")
    p.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), help="two checkpoints side by side")
    p.add_argument("--presets", "--forms", action="store_true",
                   help="sample under the app's tune types and their typical forms (and show each type)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--abc-out", default=None, help="also write each column's tunes to DIR/<column>.abc")
    p.add_argument("--threads", type=int, default=1, help="torch threads (sampling is step by step)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    index = default_index(build=True)
    real = validation_tunes(args.num, args.seed)
    requests = preset_requests(real) if args.presets else own_requests(real)
    columns = {"validation tunes": Column([a for a, _, _ in real], [analyse(a, index) for a, _, _ in real])}
    for path in args.compare or [args.checkpoint]:
        for name, col in run_checkpoint(path, requests, args.seed, index).items():
            columns[f"{path} {name}" if args.compare else name] = col
    if args.abc_out:
        out = Path(args.abc_out)
        out.mkdir(parents=True, exist_ok=True)
        for name, col in columns.items():
            (out / (re.sub(r"[^\w.-]+", "_", name) + ".abc")).write_text("\n".join(col.tunes))
    table = figure_table(columns, args.seed)
    types = per_type(columns, requests) if args.presets else {}
    if args.json:
        clean = lambda col: {k: None if v != v else v for k, v in col.items()}
        print(json.dumps({name: clean(col) for name, col in table.items()}
                         | ({"per type": {n: {k: clean(f) for k, f in t.items()} for n, t in types.items()}}
                            if types else {}), indent=1))
        return
    what = "app tune types and forms" if args.presets else "the validation tunes' own headers"
    print(f"{len(real)} validation tunes vs tunes sampled under {what} (seed {args.seed})")
    show_table(table)
    show_per_type(types)


def figure_table(columns: dict[str, Column], seed: int) -> dict:
    real_features = [features(r) for r in columns["validation tunes"].reports]
    table = {}
    for name, col in columns.items():
        table[name] = figures(col.reports)
        if col.capped is not None:
            table[name]["tunes closed at the length cap"] = col.capped
        if name != "validation tunes":
            table[name]["classifier accuracy vs validation (0.5 = same)"] = two_sample_accuracy(
                real_features, [features(r) for r in col.reports], seed)
            table[name]["seconds to sample"] = col.seconds
    return table


def show_table(table: dict) -> None:
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
    if row.startswith(("tunes ", "bars that", "bars with", "notes ", "classifier")):
        return f"{v:.1%}" if not row.startswith("classifier") else f"{v:.2f}"
    return f"{v:.0f}" if row in ("tunes", "seconds to sample") else f"{v:.2f}"


if __name__ == "__main__":
    main()
