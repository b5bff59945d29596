"""Audio speed and memory: a 32-bar reel rendered to WAV with the soundfont and with the built-in
synthesizer, side by side.

Prints, for each synthesizer, the seconds of audio made per second of rendering (the WAV step alone,
from note events to the file, best of --runs) and the same for the whole conversion in a worker
(reading, engraving, MIDI and WAV); then the resident memory of a fresh worker process with the
soundfont loaded and of one without it, after the same conversion.

    python -m benchmarks.audio_speed [--runs 5]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from abcgen.render import audio, notation, soundfont, worker
from abcgen.render.instruments import instrument
from abcgen.render.playing import Playing

# A reel in two 8-bar parts, each repeated (AABB): 32 bars played, with chord symbols and ornaments.
REEL = """X:1
T:Benchmark Reel
M:4/4
L:1/8
Q:1/2=100
R:reel
K:D
|:"D"A2FA dAFA|"G"B2GB dBGB|"D"A2FA dAFA|"A"~B2AG FEE2|
"D"A2FA dAFA|"G"B2GB d2ef|"D"gfed "A"cAGE|1"D"FDD2 D2FE:|2"D"FDD2 D2fg||
|:"D"afdf afdf|"G"gbgb "D"afdf|"D"afdf "Bm"a2ba|"A"gfge {f}edcB|
"D"Aafd "G"gbag|"D"fgaf "Em"g2fe|"D"dfed "A"cAGE|1"D"FDD2 D2fg:|2"D"FDD2 D3||
"""


def wav_speed(events, folder: Path, runs: int, built_in: bool) -> tuple[float, str]:
    """(seconds of audio per second of rendering, what played it), best of `runs`."""
    original = soundfont.player
    if built_in:
        soundfont.player = lambda rate: None
    try:
        best, name = float("inf"), ""
        for _ in range(runs):
            start = time.perf_counter()
            name = audio.write_wav(events, folder / "bench.wav", instrument("fiddle"))
            best = min(best, time.perf_counter() - start)
    finally:
        soundfont.player = original
    return audio.audio_length(events) / best, name


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def worker_figures(abc: str, built_in: bool) -> tuple[float, float, float]:
    """(seconds of audio per second of the whole conversion in a fresh worker, the first time and
    the best of three after it, its memory in MB after them)."""
    saved = os.environ.get("ABCGEN_SOUNDFONT")
    if built_in:
        os.environ["ABCGEN_SOUNDFONT"] = ""  # the worker finds no soundfont
    try:
        w = worker.Worker()
    finally:
        if saved is None:
            os.environ.pop("ABCGEN_SOUNDFONT", None)
        else:
            os.environ["ABCGEN_SOUNDFONT"] = saved
    try:
        ratios = []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(4):
                start = time.perf_counter()
                status, rendered = w.ask("render", (abc, None, str(Path(tmp) / "w.wav"), Playing()),
                                         time.monotonic() + 120, 120)
                assert status == "ok", rendered
                ratios.append(rendered.duration / (time.perf_counter() - start))
        return ratios[0], max(ratios[1:]), rss_mb(w.process.pid)
    finally:
        w.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    score = notation.parse_score(REEL)
    events = audio.note_events(score, audio.default_bpm(REEL))
    bpm = audio.default_bpm(REEL)
    bars = round(max(e.end for e in events) * bpm / 60 / 4)
    print(f"{bars}-bar reel, {audio.audio_length(events):.1f} s of audio at {bpm:g} "
          f"quarter notes a minute")
    if soundfont.player(audio.WAV_RATE) is None:
        print("no soundfont or FluidSynth installed: only the built-in synthesizer is measured")
    with tempfile.TemporaryDirectory() as tmp:
        for built_in in ([False, True] if soundfont.player(audio.WAV_RATE) else [True]):
            ratio, name = wav_speed(events, Path(tmp), args.runs, built_in)
            first, warm, memory = worker_figures(REEL, built_in)
            print(f"{name}\n  WAV alone {ratio:6.1f}x real time | whole conversion in a worker {first:5.1f}x "
                  f"(first), {warm:5.1f}x (after) | worker memory {memory:4.0f} MB")


if __name__ == "__main__":
    main()
