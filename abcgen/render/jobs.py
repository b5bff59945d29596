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
from abcgen.render import audio, notation, ornaments, playing
from abcgen.render.instruments import instrument, range_warnings
from abcgen.render.playing import Playing


@dataclass
class Rendered:
    """Everything the app shows or offers for download for one tune.

    `duration` is the audio length in seconds (last note end plus a short release).
    The WAV is a file (`wav_path`, None when it was not asked for) that lives as
    long as this object; `wav` reads it. `bpm` is quarter notes per minute.
    `timings` holds the seconds spent per step: parse, musicxml, svg, midi
    (including the note events that MIDI and WAV share), wav.
    `abc` is the tune as played (transposed when asked), `playing` the player's choices, `speed`
    the share of `bpm` it was played at, `sound` what made the WAV (a soundfont's name or the
    built-in synthesizer; "" without a WAV), `warnings` notes the instrument cannot reach.
    """

    musicxml: str
    svg_pages: list[str]
    timemap: list[dict]
    midi: bytes
    wav_path: str | None
    duration: float
    bpm: float
    timings: dict[str, float] = field(default_factory=dict)
    abc: str = ""
    playing: Playing = field(default_factory=Playing)
    sound: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def wav(self) -> bytes:
        """The WAV file's bytes; empty when no audio was made."""
        return Path(self.wav_path).read_bytes() if self.wav_path else b""


def prepare() -> None:
    """Load verovio's fonts, music21's ABC reader and the synthesizer before the first job is timed."""
    notation.to_svg(notation.to_musicxml(notation.parse_score("X:1\nL:1/8\nK:C\nC|\n")))
    audio.sound_name()


def render_here(abc: str, bpm: float | None, wav_path: str | None, play: Playing | None = None,
                width: int | None = None) -> Rendered:
    """The whole conversion, in the current process; the WAV goes to `wav_path`, the sheet fitted to a
    box `width` px wide (notation.to_svg)."""
    timings = {}
    clock = time.perf_counter()

    def step(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    play = play or Playing()
    player = instrument(play.instrument)
    abc = _in_key(abc, play.transpose, player)
    handler, quarters = notation.read_tune(abc)
    rolls = ornaments.roll_flags(handler)
    tempo = float(bpm) if bpm else audio.default_bpm(abc)
    played = tempo * play.speed
    label = audio.tempo_label(abc, played, asked=bool(bpm) or play.speed != 1)
    audio.check_playing_time(float(max(quarters, default=0)) * 60 / played, label)  # as written: repeats add
    score = notation.build_score(handler)
    ornaments.mark_rolls(score, rolls)
    step("parse")
    musicxml = notation.to_musicxml(score)  # before note_events: see its docstring
    step("musicxml")
    pages, timemap = notation.to_svg(musicxml, played, width)
    step("svg")
    swing = playing.tune_swing(abc, "{}/{}".format(*audio.meter(score)), play)
    events = audio.note_events(score, played, swing, play.loop, play.count_in)
    duration = audio.check_playing_time(audio.audio_length(events), label)
    midi = audio.to_midi(events, played, player)
    step("midi")  # includes building the note events
    sound = audio.write_wav(events, wav_path, player) if wav_path else ""
    step("wav")
    return Rendered(musicxml, pages, _following(timemap, events, play), midi, wav_path, duration, tempo, timings,
                    abc=abc, playing=play, sound=sound,
                    warnings=range_warnings(audio.written_pitches(score), player))


def _in_key(abc: str, key: str, player) -> str:
    """The tune in `key` ("" keeps it), up or down, whichever suits the player's range better."""
    if not key:
        return abc
    shift = playing.key_shift(abc, key)
    if shift:
        pitches = [p for p, _ in audio.written_pitches(notation.parse_score(abc))]
        shift = playing.best_shift(shift, pitches, player.low, player.high)
    return playing.transposed(abc, shift, key)


def _following(timemap: list[dict], events, play: Playing) -> list[dict]:
    """The note timemap the page follows the audio with: after the count-in; none for a loop,
    whose bars play in another order than the sheet's."""
    if play.loop:
        return []
    lead = audio.count_in_seconds(events) * 1000
    return [{**entry, "tstamp": round(entry["tstamp"] + lead, 3)} for entry in timemap] if lead else timemap


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
