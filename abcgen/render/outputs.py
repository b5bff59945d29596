"""Turn one ABC tune into MusicXML, SVG sheet music, MIDI and WAV, in a worker process.

The work is split by job: `abcgen.render.notation` reads the tune (refusing values that
would make music21 take minutes first) and engraves it, `abcgen.render.audio` plays it
(note events, tempo, the playing-time bound, MIDI, WAV), and `abcgen.render.worker` runs
both in worker processes with one time bound per call. This module ties them
together: `render` and `check` for callers, `render_here` and `check_here` for the
worker (`abcgen.render.jobs`, what runs inside a worker), and `write_files`.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
import weakref
from pathlib import Path

from abcgen.abc.check import Report
from abcgen.errors import RenderError
from abcgen.render import audio, worker
from abcgen.render.jobs import Rendered, check_here, render_here  # noqa: F401 - callers find them here
from abcgen.render.playing import Playing

MAX_CHARS = 100_000  # characters of ABC one call converts; a 1,000-bar tune needs about 30,000


# --------------------------------------------------------------------------- for callers


def _checked(abc, bpm) -> float | None:
    """Refuse what needs no worker to refuse: a tune that is not text or too long, a bad tempo."""
    if not isinstance(abc, str):
        raise RenderError(f"The tune must be ABC text, not {type(abc).__name__}.")
    if len(abc) > MAX_CHARS:
        raise RenderError(f"The tune is {len(abc):,} characters long; abcgen converts at most {MAX_CHARS:,} "
                          "at a time: split it into several tunes.")
    if not bpm:
        return None
    try:
        tempo = float(bpm)
    except (TypeError, ValueError):
        tempo = float("nan")
    if not audio.MIN_BPM <= tempo <= audio.MAX_BPM:  # also false for NaN
        raise RenderError(f"The tempo must be between {audio.MIN_BPM:g} and {audio.MAX_BPM:g} "
                          f"quarter notes a minute, not {bpm!r}.")
    return tempo


_audio_dir: Path | None = None


def _new_wav_path() -> Path:
    """A fresh name in this process's own folder for WAV files (removed at exit, or before by whoever
    owns the temporary folder it is in: then a new one is made)."""
    global _audio_dir
    if _audio_dir is None or not _audio_dir.is_dir():
        _audio_dir = Path(tempfile.mkdtemp(prefix="abcgen-audio-"))
        atexit.register(shutil.rmtree, _audio_dir, ignore_errors=True)
    return _audio_dir / f"{secrets.token_hex(8)}.wav"


def render(abc: str, bpm: float | None = None, timeout: float = 20.0, wav: bool = True,
           client: str | None = None, play: Playing | None = None, width: int | None = None) -> Rendered:
    """Convert one tune in a worker process within `timeout` seconds in all (at most 600).

    The bound covers waiting for a free worker, checking the tune and converting
    it; see abcgen.render.worker for the messages, the fair turns and `client` (a caller's
    key: at most one worker per client at a time). `bpm` is quarter notes per
    minute; None takes the tune's Q: field or a default for its rhythm or meter.
    `wav=False` skips the audio; `width` is the sheet's box on the page, in CSS pixels
    (notation.to_svg). Every failure is a RenderError with a plain message.
    """
    tempo = _checked(abc, bpm)
    play = (play or Playing()).checked()
    path = _new_wav_path() if wav else None
    try:
        rendered = worker.call("render", (abc, tempo, str(path) if path else None, play, width), timeout,
                               client)
    except BaseException:
        if path:
            path.unlink(missing_ok=True)  # a worker stopped half way leaves half a file
        raise
    if path:
        weakref.finalize(rendered, path.unlink, True)  # missing_ok: the folder may be gone at exit
    return rendered


def check(abc: str, timeout: float = 20.0, client: str | None = None) -> Report:
    """abcgen.abc.check.validate's report on the tune, made in a worker within `timeout` seconds.

    validate runs music21's ABC reader, which can take minutes on some header values,
    so untrusted ABC is checked here rather than in the caller's process.
    """
    _checked(abc, None)
    return worker.call("check", (abc,), timeout, client)


def warm_up(count: int | None = None) -> None:
    """Start worker processes now (default: all of them) rather than on the first call."""
    worker.pool().warm_up(count)


# --------------------------------------------------------------------------- files


def file_set(rendered: Rendered, abc: str, stem: str) -> dict[str, tuple[str, bytes]]:
    """The files one tune makes, by kind: (file name, bytes). The SVG is the first page; further
    pages (rare for a folk tune) are svg2, svg3, ... as stem-2.svg, ...; the WAV is there only when
    audio was made (at most 26 MB: ten minutes of audio)."""
    found = {"abc": (f"{stem}.abc", abc.encode("utf-8")), "midi": (f"{stem}.mid", rendered.midi),
             "musicxml": (f"{stem}.musicxml", rendered.musicxml.encode("utf-8"))}
    if rendered.wav:
        found["wav"] = (f"{stem}.wav", rendered.wav)
    for number, page in enumerate(rendered.svg_pages, start=1):
        kind, name = ("svg", f"{stem}.svg") if number == 1 else (f"svg{number}", f"{stem}-{number}.svg")
        found[kind] = (name, page.encode("utf-8"))
    return found


def write_files(rendered: Rendered, abc: str, out_dir, stem: str) -> dict[str, Path]:
    """Write a tune's `file_set` into out_dir, all or none: each file goes to a hidden name first and
    all are renamed once every one is written, so a full disk or a kill leaves no half set.
    Returns the paths by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staged, placed = {}, []
    try:
        for kind, (name, data) in file_set(rendered, abc, stem).items():
            staged[kind] = (out / f".{name}.{secrets.token_hex(4)}.part", out / name)
            with open(staged[kind][0], "xb") as f:
                f.write(data)
        for tmp, path in staged.values():
            os.replace(tmp, path)
            placed.append(path)
    except BaseException:
        for path in [tmp for tmp, _ in staged.values()] + placed:
            path.unlink(missing_ok=True)
        raise
    return {kind: path for kind, (_, path) in staged.items()}
