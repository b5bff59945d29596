"""Convert ABC files to MIDI, SVG, WAV and MusicXML from the command line.

    python -m abcgen.convert TUNE.abc [TUNE2.abc | FOLDER ...] --out DIR [--tempo BPM] [--json]
        [--max-tunes N] [--max-mb MB] [--max-minutes M]
        [--instrument NAME] [--swing 0..1] [--transpose KEY] [--loop A | --bars N-M]
        [--speed 0.5..1] [--count-in]

Each tune gets DIR/STEM.{abc,mid,svg,wav,musicxml}. A file with one tune uses the
file's stem; in a tune book every tune is converted, as STEM-X-TITLE. Files for a
tune appear only once all of them are written. The sound options are those of
abcgen.render.playing: with --transpose the files (the .abc too) are in the new key. A file over 10 MB, or anything but
a regular file (a pipe, a device), is refused unread. Each tune is checked and
converted in a worker process, both within --timeout seconds. A folder stands for the
.abc files in it. One run converts at most --max-tunes tunes, writes at most --max-mb
megabytes and starts no tune after --max-minutes; it says what it skipped. Its temporary
files are removed however it ends (SIGTERM included). The exit status is 0 when every
tune converted, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import stat
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from abcgen.render import outputs as render
from abcgen.render.files import slug
from abcgen.errors import FieldError, RenderError
from abcgen.render.instruments import INSTRUMENTS
from abcgen.render.playing import Playing

# All 4,433 tunes of music21's folk corpus in one tune book make 1.7 MB. A file many
# times that is almost surely not a tune book, and converting it would take hours.
MAX_FILE_BYTES = 10_000_000
SWING_ON = 0.6  # what --swing without a value means: a hornpipe's swing
# One run's total, unless raised: a 10 MB book could otherwise write about 120 GB.
MAX_TUNES = 500
MAX_MB = 2000.0
MAX_MINUTES = 120.0
MB = 1024 * 1024


def split_book(text: str) -> list[str]:
    """Tunes of a tune book, split at `X:` lines; text without any `X:` is one tune."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    starts = [m.start() for m in re.finditer(r"^X:", text, flags=re.MULTILINE)]
    if not starts:
        return [text] if re.search(r"^K:", text, flags=re.MULTILINE) else []
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]


def _field(tune: str, letter: str) -> str:
    match = re.search(rf"^{letter}:[ \t]*(.*)$", tune, flags=re.MULTILINE)
    return match.group(1).strip() if match else ""


def tune_stems(path: Path, tunes: list[str]) -> list[str]:
    """File stems for the tunes of one file, unique within it."""
    if len(tunes) == 1:
        return [path.stem]
    stems, seen = [], set()
    for i, tune in enumerate(tunes, start=1):
        parts = [path.stem, _field(tune, "X") or str(i), slug(_field(tune, "T"))]
        stem = "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", p) for p in parts if p)
        base, n = stem, 2
        while stem in seen:
            stem, n = f"{base}-{n}", n + 1
        seen.add(stem)
        stems.append(stem)
    return stems


def read_tunes(path: Path) -> list[str]:
    """The tunes in a file; RenderError with a plain message when there are none.

    Only a regular file is read: a FIFO or a device such as /dev/zero is refused at
    once (opened without waiting, then looked at), and at most MAX_FILE_BYTES are
    read, so a huge file is refused before it fills memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise RenderError(f"{path}: no such file") from None
    except OSError as exc:
        raise RenderError(f"{path}: cannot read it ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise RenderError(f"{path}: is a folder with no .abc file in it; name the tune files, or a folder "
                              "of them")
        raise RenderError(f"{path}: is not a regular file (a pipe, socket or device); save the tunes to a file")
    with open(fd, "rb") as f:
        try:
            raw = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise RenderError(f"{path}: cannot read it ({exc.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise RenderError(f"{path}: too large (over {MAX_FILE_BYTES / 1e6:g} MB); split it into smaller tune books")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RenderError(
            f"{path}: not UTF-8 text (byte {exc.start}); convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from None
    tunes = split_book(text)
    if not tunes:
        raise RenderError(f"{path}: holds no ABC tune (no X: or K: line)")
    return tunes


def convert_tune(abc: str, out_dir: Path, stem: str, bpm: float | None, timeout: float,
                 play: Playing | None = None):
    """Render one tune and write its files into out_dir, all or none; returns (Rendered, paths)."""
    rendered = render.render(abc, bpm=bpm, timeout=timeout, play=play)
    return rendered, render.write_files(rendered, rendered.abc or abc, out_dir, stem)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m abcgen.convert",
        description="Convert ABC tunes to MIDI, SVG, WAV and MusicXML.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="TUNE.abc",
                        help="ABC files (tune books allowed), or folders of them")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the output files")
    parser.add_argument("--tempo", type=float, metavar="BPM",
                        help="quarter notes per minute (default: the tune's Q:, else one for its rhythm)")
    parser.add_argument("--timeout", type=float, default=20.0, metavar="S",
                        help="give up on a tune after this many seconds (default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON report on stdout instead of text")
    parser.add_argument("--max-tunes", type=int, default=MAX_TUNES, metavar="N",
                        help=f"convert at most this many tunes in all (default {MAX_TUNES})")
    parser.add_argument("--max-mb", type=float, default=MAX_MB, metavar="MB",
                        help=f"stop once this many megabytes are written (default {MAX_MB:g})")
    parser.add_argument("--max-minutes", type=float, default=MAX_MINUTES, metavar="M",
                        help=f"start no tune after this many minutes (default {MAX_MINUTES:g})")
    sound = parser.add_argument_group("sound and practice")
    sound.add_argument("--instrument", default="fiddle", metavar="NAME",
                       help=f"play the tune on: {', '.join(INSTRUMENTS)} (default fiddle)")
    sound.add_argument("--swing", metavar="S", nargs="?", const=SWING_ON,
                       help=f"0 straight to 1 dotted; alone, {SWING_ON} (a hornpipe's); default the tune type's")
    sound.add_argument("--transpose", default="", metavar="KEY", help="rewrite the tune in this key, e.g. G")
    loop = sound.add_mutually_exclusive_group()
    loop.add_argument("--loop", default="", metavar="PART", help="play only this part (A, B, ...), 4 times over")
    loop.add_argument("--bars", default="", metavar="N-M", help="play only bars N to M, 4 times over")
    sound.add_argument("--speed", default=1.0, metavar="X", help="share of the tempo, 0.5 to 1 (Q: is kept)")
    sound.add_argument("--count-in", action="store_true", help="a bar of ticks before the tune")
    return parser


def read_args(argv: list[str] | None) -> tuple[argparse.Namespace, Playing]:
    """The command line's options and the player's choices; a bad value exits naming its option."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        play = Playing(args.instrument, args.swing, args.transpose, args.loop or args.bars, args.speed,
                       args.count_in).checked()
    except FieldError as exc:
        parser.error(f"--{'bars' if args.bars and exc.field == 'loop' else exc.field.replace('_', '-')}: "
                     f"{exc.message}")
    if args.tempo is not None and not 20 <= args.tempo <= 400:
        parser.error("--tempo must be between 20 and 400 quarter notes per minute")
    if not 0 < args.timeout <= 600:
        parser.error("--timeout must be more than 0 and at most 600 seconds")
    if args.max_tunes < 1 or not 0 < args.max_mb <= 10**6 or not 0 < args.max_minutes <= 10**4:
        parser.error("--max-tunes, --max-mb and --max-minutes must be above 0 (--max-mb at most 1000000, "
                     "--max-minutes at most 10000)")
    return args, play


@dataclass
class Budget:
    """What one run may do in all: tunes converted, bytes written, seconds spent."""
    tunes: int
    bytes: int
    seconds: float
    started: float = field(default_factory=time.monotonic)
    converted: int = 0
    written: int = 0

    def spent(self) -> str:
        """Why no further tune may start ("" while the budget lasts)."""
        if self.converted >= self.tunes:
            return f"--max-tunes {self.tunes} reached"
        if self.written >= self.bytes:
            return f"--max-mb {self.bytes / MB:g} reached"
        if self.seconds_left() <= 0:
            return f"--max-minutes {self.seconds / 60:g} reached"
        return ""

    def seconds_left(self) -> float:
        return self.seconds - (time.monotonic() - self.started)


def expand(paths: list[Path]) -> list[Path]:
    """The files to read: a folder stands for the .abc files in it (not in its subfolders)."""
    found = []
    for path in paths:
        found += sorted(p for p in path.glob("*.abc") if p.is_file()) or [path] if path.is_dir() else [path]
    return found


def convert_one(tune: str, path: Path, stem: str, args, play, budget: Budget, log) -> dict:
    """Check and convert one tune within --timeout and what is left of the run's time; its entry."""
    entry = {"file": str(path), "x": _field(tune, "X"), "title": _field(tune, "T"), "stem": stem,
             "validation": None}
    print(f"{path} -> {stem}", file=log)
    try:
        render.warm_up(1)  # starting the converter does not count in the first tune's --timeout
        allowed = min(args.timeout, budget.seconds_left())
        deadline = time.monotonic() + allowed  # checking and converting, together
        report = render.check(tune, timeout=allowed)
        entry["validation"] = report.to_dict()
        print(textwrap.indent(report.text(), "  "), file=log)
        left = deadline - time.monotonic()
        if left <= 0:
            raise RenderError(f"checking the tune took all of the {allowed:g} s allowed")
        rendered, paths = convert_tune(tune, args.out, stem, args.tempo, left, play)
    except (RenderError, OSError) as exc:
        entry.update(ok=False, error=str(exc))
        print(f"error: {path} ({stem}): {exc}", file=sys.stderr)
        return entry
    budget.converted += 1
    budget.written += sum(p.stat().st_size for p in paths.values())
    entry.update(ok=True, bpm=rendered.bpm, duration=round(rendered.duration, 3),
                 files={k: str(p) for k, p in paths.items()},
                 timings={k: round(v, 4) for k, v in rendered.timings.items()},
                 instrument=play.instrument, soundfont=rendered.sound, warnings=rendered.warnings)
    speed = f" played at {play.speed:.0%}" if play.speed != 1 else ""
    print(f"  wrote {len(paths)} files, {rendered.duration:.1f} s at {rendered.bpm:g} quarter "
          f"notes a minute{speed}, on the {play.instrument} ({rendered.sound})", file=log)
    for warning in rendered.warnings:
        print(f"  note: {warning}", file=log)
    return entry


def convert_all(args, play, log) -> int:
    budget = Budget(args.max_tunes, int(args.max_mb * MB), args.max_minutes * 60)
    results, failed, skipped, why = [], 0, 0, ""
    for path in expand(args.files):
        try:
            tunes = read_tunes(path)
        except RenderError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            results.append({"file": str(path), "ok": False, "error": str(exc)})
            continue
        for tune, stem in zip(tunes, tune_stems(path, tunes)):
            why = why or budget.spent()
            if why:
                skipped += 1
                results.append({"file": str(path), "stem": stem, "ok": False, "skipped": why})
                continue
            results.append(convert_one(tune, path, stem, args, play, budget, log))
            failed += not results[-1]["ok"]
    if skipped:
        print(f"skipped {skipped} tune(s), {why}; raise the limit to convert them", file=sys.stderr)
    if args.json:
        json.dump({"ok": failed == 0 and not skipped, "failed": failed, "skipped": skipped, "tunes": results},
                  sys.stdout, indent=2)
        print()
    return 1 if failed or skipped else 0


def _stop(signum, frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args, play = read_args(argv)

    log = sys.stderr if args.json else sys.stdout
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot create {args.out} ({exc.strerror})", file=sys.stderr)
        return 1
    # Stopped with SIGTERM, the run ends as on Ctrl-C: the files being written are removed (write_files),
    # and so at exit are the converters and their temporary audio (abcgen.render.outputs, .worker).
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return convert_all(args, play, log)
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
