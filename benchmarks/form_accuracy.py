"""Does a requested form come out as musicians would write and hear it?

For musicians' forms (AABB under reel, jig and hornpipe meters by default): the share of tunes
whose parts have the requested number of full bars (a pickup on top), that are written with
repeat signs that play as asked (`abcgen.judge.analysis`), and that abc2midi, an independent player,
really plays part by part in that order: the notes of its MIDI file must read X X Y Y. For
IrishMAN codes (`--codes`): how often the computed S and every B equal the request.

    python -m benchmarks.form_accuracy [--tunes 40] [--form AABB] [--codes] [--checkpoint P]
"""
from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from abcgen.judge import analysis
from abcgen.abc import form as formtools
from abcgen.compose import compose
from abcgen.sampling.asked import Header, Settings
from abcgen.sampling.sample import load_sampler
from abcgen.tune_types import TUNE_TYPES

TYPES = ("reel", "jig", "hornpipe")
KEYS = ("D", "G", "A", "Ador", "Edor", "Dmix", "Emin", "Bmin")
CODES = {
    "AABB jig, 9 code bars": ("S:2 B:9 E:5 B:9", "6/8"),
    "3 parts slip jig": ("S:3 B:8 E:5 B:8 E:5 E:5 B:8", "9/8"),
    "two parts, model picks bars": ("S:2", "2/4"),
}


def midi_pitches(abc: str) -> list[int] | None:
    """The notes abc2midi plays for a tune, in order (None without abc2midi or on failure)."""
    if not shutil.which("abc2midi"):
        return None
    import music21
    with tempfile.TemporaryDirectory() as tmp:
        src, mid = Path(tmp) / "t.abc", Path(tmp) / "t.mid"
        src.write_text(abc)
        subprocess.run(["abc2midi", str(src), "-o", str(mid)], capture_output=True, timeout=30)
        if not mid.exists():
            return None
        score = music21.converter.parse(str(mid), quantizePost=False)
    notes = score.parts[0].stripTies().flatten().notes if score.parts else []   # notes split at bar lines, whole
    return [max(p.midi for p in n.pitches) for n in notes]


def plays_repeated(seq: list[int], parts: int) -> bool:
    """Whether `seq` reads X X Y Y (Z Z ...) for some split into `parts` repeated parts."""
    def split(rest, k):
        if k == 0:
            return not rest
        for n in range(1, len(rest) // 2 + 1):
            if rest[:n] == rest[n:2 * n] and split(rest[2 * n:], k - 1):
                return True
        return False
    return split(seq, parts)


def musicians(sampler, form: str, types, tunes: int, per_batch: int) -> None:
    request = formtools.parse_form(form)
    print(f"form {request.name}: {request.sections} parts of {request.bars[0]} full bars, plays as {request.plays_as}")
    print(f"{'tune type':10s} {'tunes':>6s} {'full bars':>10s} {'repeats play':>13s} {'abc2midi plays':>15s} "
          f"{'tonic end':>10s} {'valid':>6s}")
    for name in types:
        kind = TUNE_TYPES[name]
        counts, n, seed, t0 = dict(bars=0, plays=0, midi=0, tonic=0, valid=0), 0, 0, time.time()
        midi_checked = 0
        for key in itertools.cycle(KEYS):
            if n >= tunes:
                break
            k = min(per_batch, tunes - n)
            batch = compose(sampler, Header.parse(kind.meter, kind.unit, key), "", form,
                            Settings(seed=seed, max_chars=2000, num=k))
            seed += 1
            for t in batch:
                m = t.music or analysis.analyse(t.abc, originality=False)
                counts["bars"] += [p.bars for p in m.parts] == list(request.bars)
                counts["plays"] += m.plays_as == request.plays_as
                counts["tonic"] += bool(m.ends_on_tonic)
                counts["valid"] += t.valid
                pitches = midi_pitches(t.abc)
                if pitches is not None:
                    midi_checked += 1
                    counts["midi"] += plays_repeated(pitches, request.sections) if all(request.repeats) else 0
                n += 1
        midi = f"{counts['midi'] / midi_checked:15.0%}" if midi_checked else f"{'(no abc2midi)':>15s}"
        print(f"{name:10s} {n:6d} {counts['bars'] / n:10.0%} {counts['plays'] / n:13.0%} {midi} "
              f"{counts['tonic'] / n:10.0%} {counts['valid'] / n:6.0%}   ({time.time() - t0:.0f} s)")


def codes(sampler, tunes: int, per_batch: int) -> None:
    print(f"{'form':30s} {'requested':32s} {'S match':>8s} {'all B match':>12s} {'valid':>6s}")
    for name, (code, meter) in CODES.items():
        requested = formtools.parse_code(code)
        s_ok = b_ok = valid = n = seed = 0
        for key in itertools.cycle(KEYS):
            if n >= tunes:
                break
            k = min(per_batch, tunes - n)
            batch = compose(sampler, Header.parse(meter, "1/8", key), "", code,
                            Settings(seed=seed, max_chars=2000, num=k), retries=0)
            seed += 1
            for t in batch:
                got = formtools.matches(requested, formtools.body_form(t.candidate.body))
                s_ok += bool(got["sections"])
                b_ok += bool(got["bars"]) if got["bars"] is not None else 0
                valid += t.valid
                n += 1
        b_text = f"{b_ok / n:12.0%}" if requested.bars else f"{'(not asked)':>12s}"
        print(f"{name:30s} {code:32s} {s_ok / n:8.0%} {b_text} {valid / n:6.0%}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tunes", type=int, default=40, help="tunes per tune type")
    p.add_argument("--form", default="AABB", help="a musician's form, e.g. AABB, AABBCC, AB")
    p.add_argument("--types", default=",".join(TYPES), help="tune types, comma-separated")
    p.add_argument("--per-batch", type=int, default=8)
    p.add_argument("--codes", action="store_true", help="also measure IrishMAN codes")
    p.add_argument("--checkpoint", default=None)
    args = p.parse_args()
    sampler = load_sampler(args.checkpoint)
    musicians(sampler, args.form, args.types.split(","), args.tunes, args.per_batch)
    if args.codes:
        codes(sampler, args.tunes, args.per_batch)


if __name__ == "__main__":
    main()
