"""Hostile requests: conversions through the library and the command line (time, peak memory, bytes),
and with --server, a hostile client against the running app while another client is served.

    python -m benchmarks.hostile_requests [--only NAME]
    python -m benchmarks.hostile_requests --server [--hold 60] [--attack NAME]

The server attacks (abcgen.web.serve and what it puts in front of the page) start `python app.py`
on a free loopback port; attackers and the other client use their own loopback addresses (127.0.0.x).
Each prints what the other client met and what the app kept: see `hostile_server`.

Each tune goes once through `abcgen.render.outputs.render` (timeout 20 s, files written with write_files)
and once through `python -m abcgen.convert --timeout 5`, each in a fresh interpreter, so that peak
memory is that request's own: the caller's (or the command's) and its worker processes' (from
resource.getrusage; workers are stopped and waited for before it is read). Printed side by side:
outcome, seconds, peak resident memory in MB, bytes written.
"""

from __future__ import annotations

import argparse
import json
import resource
import runpy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lines(body: str, width: int = 76) -> str:
    return "\n".join(body[i:i + width] for i in range(0, len(body), width)) + "\n"


def _huge_meter(meter: str) -> str:
    """About 2,000 characters of plain bars under a meter music21 takes minutes to set up."""
    head = f"X:1\nT:Meter {meter}\nM:{meter}\nL:1/8\nK:C\n"
    return head + _lines("CDEF GABc|" * ((2000 - len(head)) // 10))


def _legal_long() -> str:
    """20,000 characters of a legal reel within every bound (about 520 bars, 9 minutes at its
    tempo): each bar full, with chord symbols, decorations, grace notes, chords and triplets."""
    head = "X:1\nT:The Longest Reel\nR:reel\nM:4/4\nL:1/8\nQ:1/2=120\nK:D\n"
    bars = ('"D"!trill!d2{ag}fd "D/F#"[DF]2[FA]A|"G"!roll!B2{c}GB "A7"(3AGF [EA]2|\n'
            '"Bm"!accent!f2{gf}ed "E7"[^GB]2(3Bcd|"A"!fermata!e2{fe}dc "A7"[CE]2[EA]A|\n')
    body = bars * ((20_000 - len(head)) // len(bars) + 1)
    return head + body[: 20_000 - len(head)].rsplit("\n", 1)[0] + "\n"


HOSTILE = {
    "C400| at L:1/1 Q:1/4=20": "X:1\nM:4/4\nL:1/1\nQ:1/4=20\nK:C\nC400|\n",
    "80 bars of C8| at L:1/1 Q:1/4=20": "X:1\nM:4/4\nL:1/1\nQ:1/4=20\nK:C\n" + _lines("C8|" * 80, 24),
    "M:1000/1, 2,000 characters": _huge_meter("1000/1"),
    "M:777/1, 2,000 characters": _huge_meter("777/1"),
    "legal 20,000-character tune": _legal_long(),
}


def _peak_mb(who) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


def _written(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def one(kind: str, name: str) -> dict:
    """One request in this (fresh) interpreter; its figures as a dict."""
    from abcgen.render import outputs as render
    from abcgen.render import worker
    from abcgen.errors import RenderError

    tune = HOSTILE[name]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        if kind == "render":
            render.warm_up(1)  # the call alone is timed: a server has its workers started
        started = time.perf_counter()
        if kind == "render":
            try:
                rendered = render.render(tune, timeout=20.0)
                render.write_files(rendered, tune, out, "tune")
                outcome = f"converted, {rendered.duration:.0f} s of audio"
            except RenderError as exc:
                outcome = str(exc)
        else:
            path = Path(tmp) / "tune.abc"
            path.write_text(tune)
            sys.argv = ["abcgen.convert", str(path), "--out", str(out), "--timeout", "5", "--json"]
            try:
                runpy.run_module("abcgen.convert", run_name="__main__", alter_sys=True)
            except SystemExit as done:
                outcome = "exit status 0" if not done.code else f"exit status {done.code}"
        seconds = time.perf_counter() - started
        written = _written(out) if out.exists() else 0
    worker.stop_workers()  # waited for, so their peak memory shows in RUSAGE_CHILDREN
    return {"outcome": outcome, "seconds": seconds, "caller_mb": _peak_mb(resource.RUSAGE_SELF),
            "workers_mb": _peak_mb(resource.RUSAGE_CHILDREN), "bytes": written}


def measure(kind: str, name: str) -> dict:
    """Run `one` in a fresh interpreter; the wall time includes its start (what a user waits)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "benchmarks.hostile_requests", "--one", kind, name,
                               result.name], cwd=ROOT, capture_output=True, text=True, timeout=900)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            return {"outcome": f"failed: {done.stderr.strip()[-1000:]}", "seconds": wall, "wall": wall,
                    "caller_mb": 0.0, "workers_mb": 0.0, "bytes": 0}
        return {**json.loads(Path(result.name).read_text()), "wall": wall, "stderr": done.stderr}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(HOSTILE), help="run one of the tunes only")
    parser.add_argument("--one", nargs=3, metavar=("KIND", "NAME", "RESULT"), help=argparse.SUPPRESS)
    parser.add_argument("--server", action="store_true", help="attack the running app instead")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds the connection flood is held")
    parser.add_argument("--attack", help="with --server: one attack only (connections, urls, queue, "
                                         "sessions, log, store)")
    args = parser.parse_args(argv)
    if args.server:
        from benchmarks import hostile_server
        return hostile_server.run(args.hold, args.attack, legal_long=_legal_long())
    if args.one:
        kind, name, result = args.one
        Path(result).write_text(json.dumps(one(kind, name)))
        return 0

    print(f"{'request':36s} {'path':8s} {'seconds':>8s} {'caller MB':>10s} {'workers MB':>11s} {'bytes':>11s}")
    for name in [args.only] if args.only else HOSTILE:
        for kind in ("render", "convert"):
            r = measure(kind, name)
            seconds = r["seconds"] if kind == "render" else r["wall"]
            print(f"{name[:36]:36s} {kind:8s} {seconds:8.2f} {r['caller_mb']:10.0f} {r['workers_mb']:11.0f} "
                  f"{r['bytes']:11,d}")
            message = r["outcome"] if kind == "render" else (r.get("stderr") or r["outcome"]).strip()
            print(f"    {message.splitlines()[-1][:150] if message else ''}")
    print("render: the call alone, on a started worker; convert: the whole command, interpreter and "
          "worker start included. Peak resident memory: the calling process, and the largest worker.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
