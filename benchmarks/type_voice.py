"""Does each tune type keep its voice? A type recognizer trained on human tunes, and the rhythm
figures that tell the types apart, for held-out human tunes and for tunes the model writes.

The recognizer is a logistic regression (scikit-learn, a dev dependency) on per-tune figures of
the musical report (`abcgen.judge.analysis`): the meter, dotted pairs and snaps per bar, triplets,
the note-length histogram, intervals, range, recurring bars. It is trained on the folk corpus's
training tunes whose R: names a type with at least `MIN_TUNES` of them, and tested on the corpus's
validation split (held out by tune: a stable hash of the tune). Generated tunes, `--per-type` of
each type through the compose path with the type's meter, unit, tempo and form from
`abcgen.tune_types` and the type itself (`--type`), are recognized by the same
recognizer; the bar is each type within 15 points of the held-out human accuracy.

Voice figures per type, human (all labelled tunes) and generated: the share of bars with a dotted
pair (`>` or `<`), the share of notes of each length, and the share of tunes whose cadence (the
note on the last bar's last beat) is the tonic. Last, the same key and seed as a reel and as a
hornpipe: the two must differ.

    python -m benchmarks.type_voice [--per-type 8] [--seed 0] [--checkpoint FILE] [--json]
"""
from __future__ import annotations

import argparse
import json
import re
from collections import Counter

import numpy as np

from abcgen.abc import header as abcfields
from abcgen.compose import compose
from abcgen.errors import FieldError
from abcgen.judge.analysis import LENGTH_BINS, MusicalReport, analyse
from abcgen.judge.originality import CACHE_DIR
from abcgen.learn.data import load_corpus
from abcgen.sampling.asked import Header, Settings
from abcgen.sampling.sample import load_sampler
from abcgen.tune_types import TUNE_TYPES

MIN_TUNES = 40        # labelled training tunes a type needs to be a class of the recognizer
METERS = ("2/4", "3/4", "4/4", "6/8", "9/8", "12/8")
KEYS = ("D", "G", "A", "Ador", "Edor", "Dmix", "Emin", "Bmin")


def type_request(name: str, key: str) -> tuple[Header, str]:
    """Header and form for a tune of type `name` in `key`: the table's meter, unit, tempo and
    form, and the type itself (which reaches the model where its training tunes named it)."""
    t = TUNE_TYPES[name]
    return Header.parse(t.meter, t.unit, key, t.tempo, kind=name), t.form


def meter_of(abc: str) -> str:
    value = dict(abcfields.split_tune(abc)[0]).get("M", "")
    try:
        meter = abcfields.parse_meter(value) if value else "none"
    except FieldError:
        return "none"
    return {"C": "4/4", "C|": "4/4", "2/2": "4/4"}.get(meter, meter)


def features(abc: str, r: MusicalReport) -> dict[str, float]:
    """The figures of one tune the recognizer reads."""
    body = abcfields.split_tune(abc)[1]
    bars = max(1, r.bars)
    meter = meter_of(abc)
    f = {f"meter {m}": float(meter == m) for m in METERS}
    f.update({f"len {b}": r.note_lengths.get(b, 0.0) for b in LENGTH_BINS})
    f.update({
        "dotted bars": r.dotted_share,
        "snaps per bar": body.count("<") / bars,
        "triplets per bar": len(re.findall(r"\(3", body)) / bars,
        "interval": r.mean_interval or 0.0,
        "range": (r.highest_midi - r.lowest_midi) if r.lowest_midi is not None else 0.0,
        "recurring": r.recurring_share,
    })
    return f


def human_tunes():
    """(training, held-out) lists of (abc, type, report) for the corpus tunes as written whose R:
    names a type."""
    corpus = load_corpus("folk", abc2midi=False, cache_dir=CACHE_DIR)
    def labelled(tunes):
        return [(t.abc, t.kind, analyse(t.abc, originality=False)) for t in tunes if t.kind and not t.shift]
    return labelled(corpus.train), labelled(corpus.valid)


class Recognizer:
    """Logistic regression from a tune's figures to its type, over the types with enough tunes."""

    def __init__(self, train):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        counts = Counter(kind for _, kind, _ in train)
        self.types = sorted(k for k, n in counts.items() if n >= MIN_TUNES)
        rows = [(abc, kind, r) for abc, kind, r in train if kind in self.types]
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, class_weight="balanced"))
        self.model.fit(self._x(rows), [kind for _, kind, _ in rows])

    @staticmethod
    def _x(rows) -> np.ndarray:
        return np.array([list(features(abc, r).values()) for abc, _, r in rows], dtype=float)

    def predict(self, rows) -> list[str]:
        return [str(k) for k in self.model.predict(self._x(rows))] if rows else []


def generated_tunes(sampler, names, per_type: int, seed: int):
    """(abc, type, report) for `per_type` tunes of each type, each from its own compose call as a
    musician's Compose makes it (seeds `seed`, `seed` + 1, ...)."""
    out = []
    for i, name in enumerate(names):
        header, form = type_request(name, KEYS[i % len(KEYS)])
        for k in range(per_type):
            t = compose(sampler, header, "", form, Settings(seed=seed + k))[0]
            out.append((t.abc, name, analyse(t.abc, originality=False)))
    return out


def voice(rows) -> dict:
    """Dotted-pair bars, note lengths and tonic cadences of a set of tunes."""
    bars = sum(r.bars for _, _, r in rows) or 1
    notes = sum(r.notes for _, _, r in rows) or 1
    fig = {"tunes": len(rows),
           "bars with a dotted pair": sum(r.dotted_share * r.bars for _, _, r in rows) / bars,
           "cadence on the tonic": float(np.mean([bool(r.ends_on_tonic) for _, _, r in rows] or [0]))}
    for b in LENGTH_BINS:
        fig[f"notes of {b} units"] = sum(r.note_lengths.get(b, 0) * r.notes for _, _, r in rows) / notes
    return fig


def recognition(recognizer: Recognizer, rows) -> dict:
    """Per type: share recognized as their own type, and the confusion row (type -> count)."""
    rows = [x for x in rows if x[1] in recognizer.types]
    guessed = recognizer.predict(rows)
    out = {}
    for name in recognizer.types:
        mine = [g for (_, kind, _), g in zip(rows, guessed) if kind == name]
        out[name] = {"tunes": len(mine), "recognized": sum(g == name for g in mine) / len(mine) if mine else None,
                     "as": dict(Counter(mine))}
    return out


def same_seed_differs(sampler, seed: int) -> bool:
    """Whether a reel and a hornpipe with the same key and seed are different tunes."""
    bodies = []
    for name in ("reel", "hornpipe"):
        header, form = type_request(name, "D")
        bodies.append(compose(sampler, header, "", form, Settings(seed=seed))[0].candidate.body)
    return bodies[0] != bodies[1]


def run(sampler, per_type: int, seed: int, names=None) -> dict:
    """Every figure of the benchmark, as one dict (what `--json` prints)."""
    train, held_out = human_tunes()
    recognizer = Recognizer(train)
    names = names or recognizer.types
    made = generated_tunes(sampler, names, per_type, seed)
    human = recognition(recognizer, held_out)
    generated = recognition(recognizer, made)
    for name in recognizer.types:
        h, g = human[name]["recognized"], generated[name]["recognized"]
        generated[name]["points below human"] = None if h is None or g is None else round(100 * (h - g), 1)
    labelled = train + held_out
    return {
        "recognizer": {"types": recognizer.types, "training tunes": sum(k in recognizer.types for _, k, _ in train),
                       "held-out tunes": sum(k in recognizer.types for _, k, _ in held_out)},
        "human held-out": human, "generated": generated,
        "voice, human": {n: voice([x for x in labelled if x[1] == n]) for n in names},
        "voice, generated": {n: voice([x for x in made if x[1] == n]) for n in names},
        "reel and hornpipe differ (same key and seed)": same_seed_differs(sampler, seed),
    }


def show(fig: dict) -> None:
    rec = fig["recognizer"]
    types = rec["types"]
    print(f"Type recognizer: logistic regression on {rec['training tunes']} human tunes "
          f"({', '.join(types)}); {rec['held-out tunes']} held out")
    print(f"{'':12s}{'human held-out':>18s}{'generated':>14s}{'points below':>14s}")
    for n in types:
        h, g = fig["human held-out"][n], fig["generated"][n]
        cell = lambda x: "n/a" if x["recognized"] is None else f"{x['recognized']:.0%} of {x['tunes']}"
        gap = g["points below human"]
        print(f"{n:12s}{cell(h):>18s}{cell(g):>14s}{'' if gap is None else f'{gap:+.0f}':>14s}")
    for side in ("human held-out", "generated"):
        print(f"\nConfusion, {side} (rows: the type; columns: recognized as)")
        print(f"{'':12s}" + "".join(f"{n[:10]:>11s}" for n in types))
        for n in types:
            print(f"{n:12s}" + "".join(f"{fig[side][n]['as'].get(m, 0):>11d}" for m in types))
    print("\nVoice per type, human | generated: bars with a dotted pair, cadence on the tonic, "
          "notes of " + " / ".join(LENGTH_BINS) + " units")
    for n in fig["voice, generated"]:
        h, g = fig["voice, human"][n], fig["voice, generated"][n]
        lengths = lambda v: " ".join(f"{v[f'notes of {b} units']:.0%}" for b in LENGTH_BINS)
        print(f"{n:12s} dotted {h['bars with a dotted pair']:4.0%} | {g['bars with a dotted pair']:4.0%}   "
              f"tonic {h['cadence on the tonic']:4.0%} | {g['cadence on the tonic']:4.0%}   "
              f"lengths {lengths(h)} | {lengths(g)}")
    differ = fig["reel and hornpipe differ (same key and seed)"]
    print(f"\nSame key and seed as a reel and as a hornpipe: {'different tunes' if differ else 'THE SAME TUNE'}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-type", type=int, default=8, help="generated tunes of each type")
    p.add_argument("--types", nargs="*", default=None, help="types to generate (default: the recognizer's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default: the shipped one)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    fig = run(load_sampler(args.checkpoint), args.per_type, args.seed, args.types)
    if args.json:
        print(json.dumps(fig, indent=1))
    else:
        show(fig)


if __name__ == "__main__":
    main()
