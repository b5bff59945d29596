"""Instrument sound from a General MIDI soundfont, played by FluidSynth.

FluidSynth comes from Debian (`libfluidsynth3`, through the `pyfluidsynth` binding) and the soundfont
from Debian's `musescore-general-soundfont-small` (MuseScore_General_Lite.sf3, MIT licence), or
whichever General MIDI soundfont ABCGEN_SOUNDFONT names or Debian installed. Without either,
`available()` is None and abcgen.render.audio plays the tune on its own synthesizer instead.

One synthesizer is loaded per process, the first time it is needed (a render worker loads it when it
starts), and kept: samples are read from the soundfont as instruments are chosen, not all at once.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import os
from pathlib import Path

import numpy as np

from abcgen.render.instruments import CHORD_PROGRAM, INSTRUMENTS

# Searched in this order after ABCGEN_SOUNDFONT.
SOUNDFONTS = ["/usr/share/sounds/sf3/MuseScore_General_Lite.sf3", "/usr/share/sounds/sf3/MuseScore_General.sf3",
              "/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf3/default-GM.sf3",
              "/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2"]
DRUM_CHANNEL = 9
GAIN = 0.4
CHORD_VOLUME = 48  # channel volume of the chords (of 127): an accompaniment, under the melody
BLOCK = 64  # FluidSynth renders in blocks of this many samples; notes start on their boundaries


def soundfont_path() -> Path | None:
    """The soundfont to play with: ABCGEN_SOUNDFONT if set (an empty value turns soundfonts off),
    else the first of SOUNDFONTS installed."""
    named = os.environ.get("ABCGEN_SOUNDFONT")
    if named is not None:
        return Path(named) if named and Path(named).is_file() else None
    return next((Path(p) for p in SOUNDFONTS if Path(p).is_file()), None)


class Player:
    """A FluidSynth synthesizer with the soundfont loaded, rendering note events to sample chunks.

    Every program it may need has a channel of its own, chosen once, so that switching instruments
    between tunes loads no samples again; each rendering starts from silence on a block boundary,
    so the same notes always give the same samples.
    """

    def __init__(self, path: Path, rate: int, programs: list[int]):
        # ImportError when libfluidsynth is missing. Under CI=1 the binding prints where it found the
        # library on stdout, which would corrupt `convert --json`; that line goes nowhere.
        with contextlib.redirect_stdout(io.StringIO()):
            import fluidsynth

        # Floats straight from the mixer: the 16-bit output is dithered with noise that differs per call.
        self._write = fluidsynth.cfunc("fluid_synth_write_float", ctypes.c_int, ("synth", ctypes.c_void_p, 1),
                                       ("len", ctypes.c_int, 1), ("lout", ctypes.c_void_p, 1),
                                       ("loff", ctypes.c_int, 1), ("lincr", ctypes.c_int, 1),
                                       ("rout", ctypes.c_void_p, 1), ("roff", ctypes.c_int, 1),
                                       ("rincr", ctypes.c_int, 1))
        self.name, self.rate, self.rendered = path.name, rate, 0
        self.synth = fluidsynth.Synth(gain=GAIN, samplerate=float(rate), **{
            "synth.reverb.active": 0, "synth.chorus.active": 0, "synth.dynamic-sample-loading": 1,
            "synth.cpu-cores": 1})
        self.font = self.synth.sfload(str(path))
        if self.font < 0:
            raise OSError(f"cannot load {path.name}")
        free = [ch for ch in range(16) if ch != DRUM_CHANNEL]
        self.channels = {program: free[i] for i, program in enumerate(dict.fromkeys(programs))}
        self.chord_channel = free[len(self.channels)]
        for program, channel in [*self.channels.items(), (CHORD_PROGRAM, self.chord_channel)]:
            self.synth.program_select(channel, self.font, 0, program)
        self.synth.cc(self.chord_channel, 7, CHORD_VOLUME)
        self.synth.program_select(DRUM_CHANNEL, self.font, 128, 0)
        self.synth.noteon(DRUM_CHANNEL, 76, 1)  # the count-in's samples, loaded now
        self._silence()

    def _silence(self) -> None:
        """Stop every voice and render on to the next block boundary after they are gone."""
        for channel in [*self.channels.values(), self.chord_channel, DRUM_CHANNEL]:
            self.synth.cc(channel, 120, 0)  # all sound off
        self._samples(BLOCK * 4 + (-self.rendered) % BLOCK)

    def chunks(self, notes: list[tuple[float, float, int, int, int]], program: int, total: int, chunk: int):
        """Mono float chunks of `chunk` samples, `total` in all, of (start s, end s, channel, pitch,
        velocity) notes: channel 0 the melody on General MIDI `program`, 1 the chords, 9 the drums."""
        self._silence()
        to_synth = {0: self.channels[program], 1: self.chord_channel, DRUM_CHANNEL: DRUM_CHANNEL}
        changes = sorted([(round(s * self.rate), 1, to_synth[ch], p, v) for s, _, ch, p, v in notes]
                         + [(round(e * self.rate), 0, to_synth[ch], p, 0) for _, e, ch, p, _ in notes])
        done, k = 0, 0
        for first in range(0, total, chunk):
            last = min(first + chunk, total)
            pieces = []
            while done < last:
                while k < len(changes) and changes[k][0] <= done:
                    _, on, ch, pitch, velocity = changes[k]
                    self.synth.noteon(ch, pitch, velocity) if on else self.synth.noteoff(ch, pitch)
                    k += 1
                upto = min(last, changes[k][0]) if k < len(changes) else last
                pieces.append(self._samples(upto - done))
                done = upto
            yield np.concatenate(pieces) if pieces else np.zeros(0)

    def _samples(self, n: int) -> np.ndarray:
        if n <= 0:
            return np.zeros(0)
        self.rendered += n
        stereo = np.zeros(2 * n, dtype=np.float32)
        self._write(self.synth.synth, n, stereo.ctypes.data, 0, 2, stereo.ctypes.data, 1, 2)
        return stereo.reshape(-1, 2).mean(axis=1, dtype=np.float64)


@functools.cache
def player(rate: int) -> Player | None:
    """This process's synthesizer, loaded once with every instrument of abcgen.render.instruments;
    None when there is no soundfont or no FluidSynth."""
    path = soundfont_path()
    if path is None:
        return None
    try:
        return Player(path, rate, [i.program for i in INSTRUMENTS.values()])
    except (ImportError, OSError):
        return None
