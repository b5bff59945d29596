"""Convert the folk tunes in music21's corpus to every format; count failures and time each step.

Also validates every tune with the project's validator and reports the share that validates
clean (no problem at all) and the share without errors (warnings allowed).

    python -m benchmarks.convert_corpus [--limit N] [--jobs N] [--timeout S]

Tunes that music21 cannot read are counted but not held against the converters.
Steps are timed inside the worker process (see abcgen.render.outputs.Rendered.timings);
"midi" includes building the note events that MIDI and WAV share.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import music21  # noqa: E402

from abcgen.abc import check as abctools  # noqa: E402
from abcgen.render import outputs as render  # noqa: E402
from abcgen.render import worker  # noqa: E402
from abcgen.errors import RenderError  # noqa: E402

COLLECTIONS = ("oneills1850", "ryansMammoth", "airdsAirs", "miscFolk")
STEPS = ("parse", "musicxml", "svg", "midi", "wav")


def corpus_tunes() -> list[tuple[str, str]]:
    """(source, tune text) for every X: tune in the four folk collections."""
    root = Path(music21.__file__).parent / "corpus"
    tunes = []
    for collection in COLLECTIONS:
        for path in sorted((root / collection).glob("*.abc")):
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            starts = [m.start() for m in re.finditer(r"^X:", text, flags=re.MULTILINE)]
            for a, b in zip(starts, starts[1:] + [len(text)]):
                tunes.append((f"{collection}/{path.name}#{text[a:b].splitlines()[0][2:].strip()}", text[a:b]))
    return tunes


def failed_step(message: str) -> str:
    """Which step a RenderError came from, by its wording."""
    wordings = [("Could not read", "parse"), ("This is not an ABC", "parse"), ("The tune has no notes", "parse"),
                ("The tune is empty", "parse"), ("Could not write MusicXML", "musicxml"),
                ("Could not engrave", "svg"), ("took longer", "timeout"), ("crashed", "crash"),
                ("cannot be converted", "bounds"), ("notes add up to", "bounds"), ("plays for", "bounds"),
                ("renderer is busy", "busy")]
    for wording, step in wordings:
        if wording in message:
            return step
    return "other"


def validation(tune: str) -> str:
    """"clean" (no problem), "valid" (warnings only) or "errors", by the project's validator."""
    report = abctools.validate(tune)
    return "clean" if not report.problems else "valid" if report.valid else "errors"


def convert(item: tuple[str, str], timeout: float) -> tuple[str, str, object]:
    """(source, outcome, timings or message); outcome is "ok", a failed step, or "empty:<format>"."""
    source, tune = item
    try:
        rendered = render.render(tune, timeout=timeout)
    except RenderError as exc:
        return source, failed_step(str(exc)), str(exc)
    checks = {
        "musicxml": "<note" in rendered.musicxml,
        "svg": any('class="note"' in page for page in rendered.svg_pages),
        "midi": rendered.midi.startswith(b"MThd") and b"MTrk" in rendered.midi,
        "wav": rendered.wav.startswith(b"RIFF") and len(rendered.wav) > 44,
    }
    for fmt, ok in checks.items():
        if not ok:
            return source, f"empty:{fmt}", "no content"
    return source, "ok", rendered.timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="convert only N tunes, spread evenly over the collections")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per tune (default 30)")
    parser.add_argument("--show", type=int, default=5, help="print this many failure messages per kind")
    args = parser.parse_args(argv)
    if not 0 < args.timeout <= worker.MAX_TIMEOUT:
        parser.error(f"--timeout must be more than 0 and at most {worker.MAX_TIMEOUT:g} seconds")

    tunes = corpus_tunes()
    if args.limit and args.limit < len(tunes):
        tunes = [tunes[i * len(tunes) // args.limit] for i in range(args.limit)]
    worker.POOL_SIZE = max(1, args.jobs)
    render.warm_up()

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    outcomes, timings, examples = Counter(), {step: [] for step in STEPS}, {}
    validated = Counter(validation(tune) for _, tune in tunes)
    with ThreadPoolExecutor(worker.POOL_SIZE) as pool:
        results = pool.map(lambda t: convert(t, args.timeout), tunes)
        for done, (source, outcome, detail) in enumerate(results, start=1):
            if done % 200 == 0:
                print(f"  {done} of {len(tunes)} tunes, {time.perf_counter() - started:.0f} s", file=sys.stderr)
            outcomes[outcome] += 1
            if outcome == "ok":
                for step in STEPS:
                    timings[step].append(detail[step])
            else:
                examples.setdefault(outcome, []).append(f"{source}: {detail}")
    wall = time.perf_counter() - started

    unreadable = outcomes["parse"]
    readable = len(tunes) - unreadable
    print(f"{len(tunes)} tunes from {', '.join(COLLECTIONS)}; music21 reads {readable}, not {unreadable}")
    print(f"validate clean (no problem at all): {validated['clean']} ({validated['clean'] / len(tunes):.1%}); "
          f"without errors (warnings allowed): {validated['clean'] + validated['valid']} "
          f"({(validated['clean'] + validated['valid']) / len(tunes):.1%}); with errors: {validated['errors']}")
    print(f"converted to MusicXML, SVG, MIDI and WAV: {outcomes['ok']} of {readable}")
    for outcome, count in sorted(outcomes.items()):
        if outcome not in ("ok", "parse"):
            print(f"  failed at {outcome}: {count}")
    print("median (mean, 95th percentile) seconds per tune and step:")
    for step in STEPS:
        values = sorted(timings[step])
        if values:
            p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
            print(f"  {step:9s} {statistics.median(values):.4f}  ({statistics.fmean(values):.4f}, {p95:.4f})")
    totals = sorted(sum(t) for t in zip(*timings.values()))
    if totals:
        print(f"  {'total':9s} {statistics.median(totals):.4f}  ({statistics.fmean(totals):.4f})")
    print(f"wall time {wall:.1f} s with {worker.POOL_SIZE} worker processes on {os.cpu_count()} CPUs; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    for outcome, messages in sorted(examples.items()):
        for message in messages[: args.show]:
            print(f"  [{outcome}] {message[:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
