"""abcgen's own synthesizer, used when no soundfont is installed: a few wavetables and envelopes.

It needs nothing but numpy. Each instrument family of abcgen.render.instruments has its voice (bowed,
blown, reed, plucked, struck), so a flute still sounds unlike a fiddle, if far from the real thing.
Notes are made only where they sound, a chunk of samples at a time.
"""
from __future__ import annotations

import numpy as np

NOTE_RELEASE_S = 0.06  # each note fades out over this long after its end, so that it does not click
TABLE = 2048


def _wavetable(amplitudes: list[float]) -> np.ndarray:
    phase = np.arange(TABLE) / TABLE
    return sum(a * np.sin(2 * np.pi * (k + 1) * phase) for k, a in enumerate(amplitudes))


# Single-cycle tables; the bowed voice crossfades from the bright one into the round one.
_BRIGHT = _wavetable([1.0, 0.5, 0.33, 0.25, 0.2, 0.16, 0.12, 0.1])
_ROUND = _wavetable([1.0, 0.35, 0.15, 0.06])
_BLOWN = _wavetable([1.0, 0.04])
_REED = _wavetable([1.0, 0.05, 0.7, 0.05, 0.5, 0.05, 0.35, 0.05, 0.25, 0.05, 0.18])
_CLICK_HZ = 1800.0


def _envelope(voice: str, t: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(amplitude, mix of the bright table) of a voice over time `t` from the note's start."""
    if voice == "bowed":  # quick swell, a little bite, then held
        return np.minimum(t / 0.02, 1.0) * (0.75 + 0.25 * np.exp(-t * 6.0)) * np.exp(-t * 0.3), np.exp(-t * 8.0)
    if voice == "blown":  # soft breathy start, steady
        return np.minimum(t / 0.04, 1.0) * (0.9 + 0.1 * np.exp(-t * 10.0)), None
    if voice == "reed":  # bellows: immediate and steady
        return np.minimum(t / 0.01, 1.0), None
    if voice == "struck":
        return np.minimum(t / 0.003, 1.0) * np.exp(-t * 1.2), None
    return np.minimum(t / 0.004, 1.0) * np.exp(-t * 2.5), None  # plucked


def tone(pitch: int, velocity: int, duration: float, voice: str, t: np.ndarray) -> np.ndarray:
    """Samples of one note at times `t` (seconds from its start), release included. The voice
    "click" is a count-in tick."""
    if voice == "click":
        return (velocity / 127) * np.exp(-t * 60.0) * np.sin(2 * np.pi * _CLICK_HZ * t)
    freq = 440.0 * 2 ** ((pitch - 69) / 12)
    index = (freq * TABLE * t).astype(np.int64) % TABLE
    amplitude, bright = _envelope(voice, t)
    if bright is not None:
        wave_ = (1 - bright) * _ROUND[index] + bright * _BRIGHT[index]
    else:
        wave_ = {"blown": _BLOWN, "reed": _REED}.get(voice, _ROUND)[index]
    fade = np.clip(1.0 - (t - duration) / NOTE_RELEASE_S, 0.0, 1.0)  # fade out after the end
    return (velocity / 127) * amplitude * wave_ * fade


def chunks(notes: list[tuple[float, float, int, int, int, str]], rate: int, total: int, chunk: int):
    """Mono chunks of `chunk` samples, `total` in all, of (start s, end s, pitch, velocity, gain x100,
    voice) notes."""
    pending = sorted(notes)
    sounding: list = []
    k = 0
    for first in range(0, total, chunk):
        last = min(first + chunk, total)
        out = np.zeros(last - first)
        while k < len(pending) and int(pending[k][0] * rate) < last:
            sounding.append(pending[k])
            k += 1
        still = []
        for note in sounding:
            start_s, end_s, pitch, velocity, gain, voice = note
            start, n = int(start_s * rate), int((end_s - start_s + NOTE_RELEASE_S) * rate)
            a, b = max(start, first), min(start + n, last)
            if a < b:
                t = (np.arange(a, b) - start) / rate
                out[a - first:b - first] += gain / 100 * tone(pitch, velocity, end_s - start_s, voice, t)
            if start + n > last:
                still.append(note)
        sounding = still
        yield out
