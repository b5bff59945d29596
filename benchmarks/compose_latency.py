"""Latency of one compose request for a reel, through the same code as the app's /compose endpoint
(sampling, repair and validation, MusicXML, SVG, MIDI, WAV and the files in the app's file store),
without HTTP.

Prints the median total and the median of each step over N requests with different seeds.
The target is a median of at most 1 s on a 2-core CPU.

    python -m benchmarks.compose_latency [--runs 10] [--checkpoint PATH] [--threads N]
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REEL = {"meter": "4/4", "key": "D", "unit": "1/8", "title": "Benchmark Reel", "tempo": "1/2=100",
        "form": "S:2 B:8 E:5 B:8"}
STEPS = ["sample", "of which resampling", "validate/repair", "parse", "musicxml", "svg", "midi", "wav", "transfer",
         "files"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--checkpoint", default=None, help="default: ABCGEN_CHECKPOINT, else the shipped model")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the app's setting)")
    args = p.parse_args()
    if args.checkpoint:
        os.environ["ABCGEN_CHECKPOINT"] = args.checkpoint

    import torch

    import tempfile

    import app
    from abcgen import compose as composer
    from abcgen.web.events import Config
    from abcgen.render import outputs as renderer

    # Time the steps from the outside: repair+validation per candidate, the render the app asks for
    # (its own steps are in Rendered.timings) and writing the files.
    clock = {}
    last = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                result = fn(*a, **k)
                last[name] = result
                return result
            finally:
                clock[name] = clock.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    composer.check = timed("check", composer.check)
    renderer.render = timed("render", renderer.render)
    config = Config.from_env()
    composed = app.create(Config(files_dir=Path(tempfile.mkdtemp(prefix="abcgen-latency-")),
                                 checkpoint=config.checkpoint))
    composed.store.open()
    composed.hand_out = timed("files", composed.hand_out)   # the files go through the app's file store

    sampler = composed.sampler()
    sampler.sample = timed("resample", sampler.sample)  # compose's extra rounds for tunes that fail validation
    if args.threads:
        torch.set_num_threads(args.threads)
    renderer.warm_up()
    composed.compose(**REEL, seed=999)  # warm caches; not counted

    rows = []
    for seed in range(args.runs):
        clock.clear()
        t0 = time.perf_counter()
        try:
            abc, *_ = composed.compose(**REEL, seed=seed)
        except Exception as e:  # a tune the converters cannot read: reported, not timed
            print(f"run {seed:2d}: failed: {e}")
            continue
        total = time.perf_counter() - t0
        inside = last["render"].timings
        row = {"total": total, "validate/repair": clock["check"], **inside,
               "sample": total - clock["check"] - clock["render"] - clock["files"],
               "of which resampling": clock.get("resample", 0.0),
               # the render call beyond its own steps (handing the job and result between processes)
               "transfer": clock["render"] - sum(inside.values()), "files": clock["files"]}
        rows.append(row)
        bars = abc.count("|")
        print(f"run {seed:2d}: {total:6.3f} s  ({len(abc)} characters, about {bars} bar lines; "
              f"{clock.get('resample', 0.0):.3f} s of it resampling invalid tunes)")

    print(f"\nmedian over {len(rows)} reels (torch threads: {torch.get_num_threads()}, CPUs: {os.cpu_count()}):")
    print(f"  {'total':20s} {statistics.median(r['total'] for r in rows):7.3f} s")
    for step in STEPS:
        print(f"  {step:20s} {statistics.median(r.get(step, 0.0) for r in rows):7.3f} s")


if __name__ == "__main__":
    main()
