"""Load test: many users composing at once against the app on this machine.

    python benchmarks/load_test.py [--seconds 60] [--sessions 16] [--requests N] [--checkpoint PATH] [--json]

Starts `python app.py` on a free loopback port, opens `--sessions` gradio_client sessions and has each
call /compose over and over with varied settings (meter, key, temperature, seed, length, form,
candidates) for `--seconds`, fetching the returned files as a client would. Requests still running at
the end are waited for. Then it prints the requests served, the failures (with their messages) and
the p50/p95/max latency, and checks that the app still answers.

The target is zero failures: more sessions than the app runs at once must wait in its queue, not
fail. It also follows the size of the app's folder of handed-out files (sampled twice a second): the
app's file store must keep it under its budget (200 MB, or ABCGEN_FILES_MB), e.g. for 150 composes in
a row: `--sessions 1 --requests 150 --seconds 3600`. All traffic stays on 127.0.0.1. The checkpoint is `--checkpoint`, else ABCGEN_CHECKPOINT, else
the shipped checkpoints/folk.pt.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.serving import Served, running_app   # noqa: E402  (run as a file, too)

# Settings a musician might pick: tune types with their meter, key and form, and sampling choices.
TUNES = [
    {"meter": "6/8", "key": "D", "unit": "1/8", "opening": "A|dAF DFA|", "form": "S:2 B:8 E:5 B:8"},
    {"meter": "4/4", "key": "G", "unit": "1/8", "opening": "|:GABc dBGB|", "form": "S:2 B:8 E:5 B:8"},
    {"meter": "9/8", "key": "Emin", "unit": "1/8", "opening": "", "form": "S:3 B:8 E:5 B:8 E:5 E:5 B:8"},
    {"meter": "3/4", "key": "Dmix", "unit": "1/8", "opening": "D2|G2B2d2|", "form": ""},
    {"meter": "2/4", "key": "Ador", "unit": "1/8", "opening": "", "form": "S:2 B:4 E:5 B:4"},
    {"meter": "4/4", "key": "A", "unit": "1/8", "opening": "(3efg|a2ec A2ce|", "form": ""},
]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def pick_checkpoint(given: str | None) -> Path:
    if given:
        return Path(given)
    if os.environ.get("ABCGEN_CHECKPOINT"):
        return Path(os.environ["ABCGEN_CHECKPOINT"])
    from abcgen.learn.checkpoint import SHIPPED
    return SHIPPED


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()

    def ok(self, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)

    def failed(self, message: str) -> None:
        with self.lock:
            self.failures[message[:200]] += 1


def session(url: str, number: int, stop_at: float, request_timeout: float, download: Path | None,
            results: Results, seed: int, requests: int = 0) -> None:
    """One user: compose, fetch the files, compose again, until the time is up."""
    from gradio_client import Client
    rng = random.Random(seed * 1000 + number)
    try:
        client = Client(url, verbose=False, analytics_enabled=False,
                        download_files=str(download / f"session-{number}") if download else False)
    except Exception as e:  # noqa: BLE001  (a session that cannot connect is a failure too)
        results.failed(f"connect: {type(e).__name__}: {e}")
        return
    done = 0
    while time.monotonic() < stop_at and not (requests and done >= requests):
        done += 1
        tune = rng.choice(TUNES)
        request = {**tune, "title": f"Load {number}", "temperature": rng.choice([0.8, 0.9, 1.0, 1.1]),
                   "seed": rng.randrange(1_000_000), "top_k": rng.choice([0, 0, 20]),
                   "max_chars": rng.choice([400, 800, 1200]), "num": rng.choice([1, 1, 1, 2])}
        start = time.monotonic()
        try:
            result = client.submit(**request, api_name="/compose").result(timeout=request_timeout)
            if not (isinstance(result, (list, tuple)) and str(result[0]).startswith("X:")):
                raise ValueError(f"unexpected result {str(result)[:100]!r}")
        except Exception as e:  # noqa: BLE001  (every kind of failure is counted and shown)
            results.failed(f"{type(e).__name__}: {e}")
        else:
            results.ok(time.monotonic() - start)


def folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:
            pass  # removed while we looked
    return total


def watch_folder(folder: Path, stop: threading.Event, peak: list[int]) -> None:
    """Keep the largest size the folder reaches in peak[0]."""
    while not stop.wait(0.5):
        peak[0] = max(peak[0], folder_bytes(folder))


def run(args) -> dict:
    checkpoint = pick_checkpoint(args.checkpoint)
    if not checkpoint.exists():
        raise SystemExit(f"no checkpoint at {checkpoint}; pass --checkpoint or set ABCGEN_CHECKPOINT")
    workdir = Path(tempfile.mkdtemp(prefix="abcgen-load-"))
    try:
        with running_app(checkpoint, workdir) as app:
            return measure(args, app)
    except RuntimeError as e:          # the app exited, or never answered
        raise SystemExit(str(e)) from None
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def measure(args, app: Served) -> dict:
    """The sessions against the started app, and what they met."""
    memory_before = app.rss_mb()
    results = Results()
    started = time.monotonic()
    stop_at = started + args.seconds
    download = app.workdir / "downloads" if args.download else None
    cache, peak, stop = app.cache, [0], threading.Event()
    watcher = threading.Thread(target=watch_folder, args=(cache, stop, peak), daemon=True)
    watcher.start()
    threads = [threading.Thread(target=session, daemon=True,
                                args=(app.url, i, stop_at, args.request_timeout, download, results, args.seed,
                                      args.requests))
               for i in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:   # requests in flight at the end finish (or time out) before we count
        t.join(max(0.0, stop_at - time.monotonic()) + args.request_timeout + 30)
    elapsed = time.monotonic() - started
    stop.set()
    watcher.join()
    still_running = sum(t.is_alive() for t in threads)
    try:
        alive = app.proc.poll() is None and httpx.get(app.url + "/", timeout=10).status_code == 200
    except httpx.HTTPError:
        alive = False
    cached_files = sum(1 for p in cache.rglob("*") if p.is_file()) if cache.exists() else 0
    lat = results.latencies
    return {
        "checkpoint": str(app.checkpoint), "sessions": args.sessions, "seconds": args.seconds,
        "elapsed_s": round(elapsed, 1), "served": len(lat),
        "failures": sum(results.failures.values()) + still_running,
        "failure_messages": dict(results.failures.most_common(10)),
        "sessions_still_waiting": still_running,
        "per_second": round(len(lat) / elapsed, 2) if elapsed else 0.0,
        "p50_s": round(percentile(lat, 50), 2), "p95_s": round(percentile(lat, 95), 2),
        "max_s": round(max(lat), 2) if lat else math.nan,
        "app_alive": alive, "app_rss_mb_before": memory_before, "app_rss_mb_after": app.rss_mb(),
        "files_in_cache_at_end": cached_files,
        "files_mb_peak": round(max(peak[0], folder_bytes(cache)) / 2**20, 1),
        "files_mb_at_end": round(folder_bytes(cache) / 2**20, 1),
        "files_budget_mb": float(os.environ.get("ABCGEN_FILES_MB") or 200),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="how long the sessions keep composing (default 60)")
    p.add_argument("--sessions", type=int, default=16, help="concurrent client sessions (default 16)")
    p.add_argument("--requests", type=int, default=0,
                   help="requests per session, then it stops (default 0: until --seconds are up)")
    p.add_argument("--checkpoint", help="model to serve (default: ABCGEN_CHECKPOINT, else the shipped one)")
    p.add_argument("--request-timeout", type=float, default=300.0,
                   help="a request that takes longer counts as a failure (default 300 s)")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="do not fetch the returned files")
    p.add_argument("--seed", type=int, default=0, help="seed for the settings each session picks")
    p.add_argument("--keep", action="store_true", help="keep the app's log and files (printed folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.sessions < 1 or args.request_timeout <= 0 or args.requests < 0:
        p.error("--seconds and --request-timeout must be positive, --sessions at least 1, --requests at least 0")
    r = run(args)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{r['sessions']} sessions for {r['seconds']:g} s ({r['elapsed_s']} s with the last requests), "
              f"checkpoint {r['checkpoint']}")
        print(f"requests served: {r['served']} ({r['per_second']} a second)")
        print(f"failures:        {r['failures']}")
        for message, count in r["failure_messages"].items():
            print(f"  {count} x {message}")
        print(f"latency:         p50 {r['p50_s']} s, p95 {r['p95_s']} s, max {r['max_s']} s")
        mb = lambda v: "?" if v is None else f"{v:.0f}"  # noqa: E731
        print(f"app:             {'still answering' if r['app_alive'] else 'NOT ANSWERING'}; "
              f"memory {mb(r['app_rss_mb_before'])} MB before, {mb(r['app_rss_mb_after'])} MB after; "
              f"{r['files_in_cache_at_end']} files in its download cache at the end")
        print(f"handed-out files: peak {r['files_mb_peak']} MB, {r['files_mb_at_end']} MB at the end "
              f"(budget {r['files_budget_mb']:g} MB)")
    within = r["files_mb_peak"] <= r["files_budget_mb"]
    return 0 if r["failures"] == 0 and r["app_alive"] and within else 1


if __name__ == "__main__":
    sys.exit(main())
