"""What a worker process runs (`abcgen.render.worker`): one tune converted, or checked, in the
current process. `JOBS` names each job for the pipe; `prepare` runs once when a worker starts.

Kept apart from `abcgen.render.outputs` (the callers' side, which imports the worker) so that the
worker can import its jobs directly: no module names another as a string.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from abcgen.abc.check import Problem, Report, validate
from abcgen.errors import RenderError
from abcgen.render import audio, notation


@dataclass
class Rendered:
    """Everything the app shows or offers for download for one tune.

    `duration` is the audio length in seconds (last note end plus a short release).
    The WAV is a file (`wav_path`, None when it was not asked for) that lives as
    long as this object; `wav` reads it. `bpm` is quarter notes per minute.
    `timings` holds the seconds spent per step: parse, musicxml, svg, midi
    (including the note events that MIDI and WAV share), wav.
    """

    musicxml: str
    svg_pages: list[str]
    timemap: list[dict]
    midi: bytes
    wav_path: str | None
    duration: float
    bpm: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def wav(self) -> bytes:
        """The WAV file's bytes; empty when no audio was made."""
        return Path(self.wav_path).read_bytes() if self.wav_path else b""


def prepare() -> None:
    """Load verovio's fonts and music21's ABC reader before the first job is timed."""
    notation.to_svg(notation.to_musicxml(notation.parse_score("X:1\nL:1/8\nK:C\nC|\n")))


def render_here(abc: str, bpm: float | None, wav_path: str | None) -> Rendered:
    """The whole conversion, in the current process; the WAV goes to `wav_path`."""
    timings = {}
    clock = time.perf_counter()

    def step(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    handler, quarters = notation.read_tune(abc)
    tempo = float(bpm) if bpm else audio.default_bpm(abc)
    label = audio.tempo_label(abc, tempo, asked=bool(bpm))
    audio.check_playing_time(float(max(quarters, default=0)) * 60 / tempo, label)  # as written: repeats add
    score = notation.build_score(handler)
    step("parse")
    musicxml = notation.to_musicxml(score)  # before note_events: see its docstring
    step("musicxml")
    pages, timemap = notation.to_svg(musicxml, tempo)
    step("svg")
    events = audio.note_events(score, tempo)
    duration = audio.check_playing_time(audio.audio_length(events), label)
    midi = audio.to_midi(events, tempo)
    step("midi")  # includes building the note events
    if wav_path:
        audio.write_wav(events, wav_path)
    step("wav")
    return Rendered(musicxml, pages, timemap, midi, wav_path, duration, tempo, timings)


def check_here(abc: str) -> Report:
    """The validation report, or the one field that must not reach music21."""
    try:
        text = notation.first_tune(abc)
    except RenderError:
        text = None  # empty or no K: line; validate says so in its own words
    if text is not None:
        try:
            notation.check_fields(text)
        except RenderError as exc:
            return Report(problems=[Problem("error", str(exc))])
    return validate(abc)


JOBS = {"render": render_here, "check": check_here}
