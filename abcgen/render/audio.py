"""The tune as sound: note events in seconds, tempo, the playing-time bound, MIDI and WAV.

music21's MIDI writer chokes on malformed repeats and mishandles chord symbols and
grace notes, so MIDI and WAV are built here from our own note events. The events
come before any MIDI or audio, so a tune that would play for hours is refused
(`check_playing_time`, also given the written length before the score is built)
before a byte of either is made, and the WAV is synthesised
a few seconds at a time straight to disk, so its memory does not grow with the tune.
"""

from __future__ import annotations

import io
import tempfile
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from abcgen.abc.header import default_unit, meter_length, parse_meter, parse_unit, split_tune, tempo_bpm
from abcgen.errors import FieldError, RenderError
from abcgen.render.notation import parts
from abcgen.tune_types import TUNE_TYPES, tune_type

FALLBACK_BPM = 120.0  # quarter notes a minute when neither Q:, R: nor the meter suggests a tempo
MIN_BPM, MAX_BPM = 20.0, 600.0  # the tempo a caller may ask for, in quarter notes a minute
MAX_PLAY_S = 600.0  # ten minutes: longer than any folk tune played with all its repeats

GRACE_QL = 0.125  # a grace note lasts 1/32 of a whole note, taken from the next note
RELEASE_S = 0.25  # audio tail after the last note ends
NOTE_RELEASE_S = 0.06  # each note fades out over this long after its end, so that it does not click
MELODY_PROGRAM = 40  # General MIDI violin: a fiddle
CHORD_PROGRAM = 24  # nylon guitar, softer than the melody
MELODY_VELOCITY, ACCENT_VELOCITY, CHORD_VELOCITY = 84, 100, 60
MIDI_TICKS = 960  # per quarter note
WAV_RATE = 22050
WAV_CHUNK = 1 << 16  # samples synthesised at a time: 3 s of sound, 0.5 MB of floats


@dataclass
class NoteEvent:
    """One sounding note. `start` and `duration` are in seconds, `pitch` a MIDI number.

    Track 0 is the melody (all voices of a multi-voice tune), track 1 the
    accompaniment from chord symbols.
    """

    start: float
    duration: float
    pitch: int
    velocity: int
    track: int

    @property
    def end(self) -> float:
        return self.start + self.duration


# --------------------------------------------------------------------------- tempo


def _written_tempo(abc: str) -> tuple[float, str | None]:
    """(quarter notes a minute, the Q: value) of the tune's first Q: field; 0 when none is usable."""
    q = next((value for letter, value in split_tune(abc)[0] if letter == "Q"), None)
    return tempo_bpm(q, default=0.0), q


def _meter_type(meter: str):
    """The tune type of a meter: the first with that meter, else the first with bars of that length."""
    try:
        meter = parse_meter(meter)
    except FieldError:
        return None
    length = meter_length(meter)
    same = [t for t in TUNE_TYPES.values() if t.meter == meter]
    same += [t for t in TUNE_TYPES.values() if length is not None and meter_length(t.meter) == length]
    return same[0] if same else None


def default_bpm(abc: str) -> float:
    """Tempo in quarter notes per minute: Q: field, else by rhythm (R:), else by meter.

    Rhythm and meter lead to a tune type of abcgen.tune_types (4/4 and C are reels,
    C| and 2/2 too, 6/8 jigs, 2/4 polkas, ...). Those tempos assume the usual unit
    note length of 1/8; a tune written in sixteenths (L:1/16, common for 2/4 reels
    and airs, or no L: in a meter shorter than 3/4) plays at half the quarter-note rate
    so that it sounds at the same speed.
    """
    written, _ = _written_tempo(abc)
    if written > 0:
        return written
    header = {}
    for letter, value in split_tune(abc)[0]:
        header.setdefault(letter, value)
    kind = tune_type(header.get("R")) or _meter_type(header.get("M", ""))
    bpm = kind.quarter_bpm if kind else FALLBACK_BPM
    unit = _unit(header)
    if unit:
        bpm *= min(max(float(unit * 8), 0.5), 2.0)
    return min(max(bpm, MIN_BPM), MAX_BPM)


def _unit(header: dict[str, str]) -> Fraction | None:
    """The unit note length: L:, else ABC's default for the meter (1/16 in bars shorter than 3/4,
    as abc_fields.default_unit says); None when a field cannot be read."""
    try:
        if "L" in header:
            return Fraction(parse_unit(header["L"]))
        return Fraction(default_unit(parse_meter(header.get("M") or "none")))
    except FieldError:
        return None


def tempo_label(abc: str, bpm: float, asked: bool) -> str:
    """How a message names the tempo the tune was played at."""
    written, q = _written_tempo(abc)
    if not asked and written > 0 and q:
        return f"Q:{' '.join(q.split())}"
    return f"{bpm:g} quarter notes a minute"


def audio_length(events: list[NoteEvent]) -> float:
    """Seconds of audio: the last note's end plus a short release."""
    return max((e.end for e in events), default=0.0) + RELEASE_S


def check_playing_time(seconds: float, tempo: str) -> float:
    """`seconds`, or RenderError when the tune would play longer than MAX_PLAY_S at `tempo`."""
    if seconds > MAX_PLAY_S:
        raise RenderError(f"The tune plays for {seconds / 60:,.0f} minutes at {tempo}; the limit is "
                          f"{MAX_PLAY_S / 60:g} minutes: raise the tempo or shorten the notes.")
    return seconds


# --------------------------------------------------------------------------- events


def _expanded(part):
    """Play repeats and endings in order; a tune with malformed repeats plays as written."""
    try:
        return part.expandRepeats()
    except Exception:
        return part


def _measures(part):
    from music21 import stream

    measures = list(part.getElementsByClass(stream.Measure))
    if measures:
        return measures
    return [part]  # a part without measures still holds notes


def _chord_tones(symbol) -> list[int]:
    """Bass note around C2-B2 plus the chord's pitch classes between E3 and D#4."""
    pitches = list(symbol.pitches)
    if not pitches:
        return []  # N.C. (no chord)
    tones = {48 + p.pitchClass + (12 if p.pitchClass < 4 else 0) for p in pitches}
    bass = symbol.bass() or pitches[0]
    return [36 + bass.pitchClass] + sorted(tones)


def note_events(score, bpm: float) -> list[NoteEvent]:
    """Sounding notes in seconds at `bpm` quarter notes per minute.

    Repeats and endings are expanded, tied notes merged, grace notes short and
    taken from the note that follows, and chord symbols become a separate
    accompaniment track (1) struck at the symbol and again at each new bar.
    A tempo change inside the tune is not followed.

    Expanding repeats leaves the score's notes linked to their copies until the
    garbage collector runs, which makes a later `to_musicxml` of the same score
    many times slower: export first, then call this.
    """
    from music21 import harmony

    if bpm <= 0:
        raise RenderError(f"The tempo must be positive, not {bpm}.")
    seconds = 60.0 / bpm
    events: list[NoteEvent] = []
    chords: list[tuple[Fraction, list[int]]] = []  # (onset, tones); tones [] stops
    bar_starts: list[Fraction] = []
    end_ql = Fraction(0)

    for part_index, part in enumerate(parts(score)):
        open_ties: dict[int, NoteEvent] = {}
        graces: list[tuple[Fraction, list[int]]] = []
        for measure in _measures(_expanded(part)):
            m_start = Fraction(measure.offset)
            if part_index == 0:
                bar_starts.append(m_start)
            downbeat = not getattr(measure, "paddingLeft", 0)
            for el in measure.flatten().notes:
                onset = m_start + Fraction(el.offset)
                if isinstance(el, harmony.ChordSymbol):
                    if part_index == 0:
                        chords.append((onset, _chord_tones(el)))
                    continue
                notes = list(el.notes) if el.isChord else [el]
                pitches = [n.pitch.midi for n in notes]
                if el.duration.isGrace:
                    graces.append((onset, pitches))
                    continue
                length = Fraction(el.quarterLength)
                end_ql = max(end_ql, onset + length)
                if graces:  # grace notes steal time from this note, at most half of it
                    steal = min(GRACE_QL * len(graces), length / 2)
                    each = steal / len(graces)
                    for i, (_, grace_pitches) in enumerate(graces):
                        start_s, dur_s = float((onset + i * each) * seconds), float(each * seconds)
                        events += [NoteEvent(start_s, dur_s, p, MELODY_VELOCITY, 0) for p in grace_pitches]
                    onset, length = onset + steal, length - steal
                    graces = []
                velocity = ACCENT_VELOCITY if downbeat and el.offset == 0 else MELODY_VELOCITY
                for n, p in zip(notes, pitches):
                    tie = n.tie or el.tie
                    tie = tie.type if tie else None
                    held = open_ties.get(p)
                    start_s, dur_s = float(onset * seconds), float(length * seconds)
                    if tie in ("stop", "continue") and held and abs(held.end - start_s) < 1e-6:
                        held.duration += dur_s
                        event = held
                    else:
                        event = NoteEvent(start_s, dur_s, p, velocity, 0)
                        events.append(event)
                    if tie in ("start", "continue"):
                        open_ties[p] = event
                    else:
                        open_ties.pop(p, None)
        for onset, gp in graces:  # grace notes with nothing after them
            for p in gp:
                events.append(NoteEvent(float(onset * seconds), GRACE_QL * seconds, p, MELODY_VELOCITY, 0))

    events += _accompaniment(chords, bar_starts, end_ql, seconds)
    events.sort(key=lambda e: (e.start, e.track, e.pitch))
    return events


def _accompaniment(chords, bar_starts, end_ql, seconds) -> list[NoteEvent]:
    """Each chord sounds until the next symbol or bar line, and is struck again each bar."""
    if not chords:
        return []
    chords = sorted(chords, key=lambda c: c[0])  # stable: the later of two symbols at one onset wins
    onsets = sorted({t for t, _ in chords} | {b for b in bar_starts if b > chords[0][0]})
    events, current, i = [], [], 0
    for k, t in enumerate(onsets):
        while i < len(chords) and chords[i][0] <= t:
            current = chords[i][1]
            i += 1
        stop = onsets[k + 1] if k + 1 < len(onsets) else end_ql
        for p in current if stop > t else []:
            events.append(NoteEvent(float(t * seconds), float((stop - t) * seconds), p, CHORD_VELOCITY, 1))
    return events



# --------------------------------------------------------------------------- MIDI and WAV


def to_midi(events: list[NoteEvent], bpm: float) -> bytes:
    """Standard MIDI file: a fiddle melody track and, if any, a softer chord track."""
    from midiutil import MIDIFile

    tracks = 2 if any(e.track == 1 for e in events) else 1
    midi = MIDIFile(tracks, adjust_origin=False, deinterleave=False, ticks_per_quarternote=MIDI_TICKS,
                    eventtime_is_ticks=True)
    for track, (name, program) in enumerate([("Melody", MELODY_PROGRAM), ("Chords", CHORD_PROGRAM)][:tracks]):
        midi.addTrackName(track, 0, name)
        midi.addTempo(track, 0, bpm)
        midi.addProgramChange(track, track, 0, program)
    for track, pitch, start, end, velocity in _midi_notes(events, bpm):
        if track < tracks:
            midi.addNote(track, track, pitch, start, end - start, velocity)
    out = io.BytesIO()
    midi.writeFile(out)
    return out.getvalue()


def _midi_notes(events: list[NoteEvent], bpm: float) -> list[tuple[int, int, int, int, int]]:
    """(track, pitch, start tick, end tick, velocity) with overlapping notes of one pitch cut short.

    A MIDI channel cannot sound one pitch twice at once, and midiutil's own
    untangling of such overlaps fails on some tunes.
    """
    ticks = bpm / 60.0 * MIDI_TICKS
    notes = sorted((e.track, e.pitch, round(e.start * ticks), round(e.end * ticks), e.velocity) for e in events)
    for i in range(len(notes) - 1):
        track, pitch, start, end, velocity = notes[i]
        following = notes[i + 1]
        if following[:2] == (track, pitch) and following[2] < end:
            notes[i] = (track, pitch, start, following[2], velocity)
    return [n for n in notes if n[3] > n[2]]


def _wavetable(amplitudes: list[float], size: int = 2048) -> np.ndarray:
    phase = np.arange(size) / size
    return sum(a * np.sin(2 * np.pi * (k + 1) * phase) for k, a in enumerate(amplitudes))


# Two single-cycle tables, crossfaded: a bright bowed attack settling into a rounder tone.
_BRIGHT = _wavetable([1.0, 0.5, 0.33, 0.25, 0.2, 0.16, 0.12, 0.1])
_ROUND = _wavetable([1.0, 0.35, 0.15, 0.06])



def _tone(e: NoteEvent, t: np.ndarray) -> np.ndarray:
    """Samples of one note at times `t` (seconds from its start), release included."""
    size = len(_BRIGHT)
    freq = 440.0 * 2 ** ((e.pitch - 69) / 12)
    index = (freq * size * t).astype(np.int64) % size
    if e.track == 0:  # bowed: quick swell, a little bite, then held
        body = np.minimum(t / 0.02, 1.0) * (0.75 + 0.25 * np.exp(-t * 6.0)) * np.exp(-t * 0.3)
        bright = np.exp(-t * 8.0)
        tone = body * ((1 - bright) * _ROUND[index] + bright * _BRIGHT[index])
        gain = e.velocity / 127
    else:  # plucked: instant attack, fast decay, quieter
        tone = np.minimum(t / 0.004, 1.0) * np.exp(-t * 2.5) * _ROUND[index]
        gain = 0.45 * e.velocity / 127
    return gain * tone * np.clip(1.0 - (t - e.duration) / NOTE_RELEASE_S, 0.0, 1.0)  # fade out after the end


def _mix(events: list[NoteEvent], rate: int, total: int):
    """The mixed signal, WAV_CHUNK samples at a time; each note is made only where it sounds."""
    pending = sorted(events, key=lambda e: e.start)
    sounding: list[NoteEvent] = []
    k = 0
    for first in range(0, total, WAV_CHUNK):
        last = min(first + WAV_CHUNK, total)
        out = np.zeros(last - first)
        while k < len(pending) and int(pending[k].start * rate) < last:
            sounding.append(pending[k])
            k += 1
        still = []
        for e in sounding:
            start, n = int(e.start * rate), int((e.duration + NOTE_RELEASE_S) * rate)
            a, b = max(start, first), min(start + n, last)
            if a < b:
                out[a - first:b - first] += _tone(e, (np.arange(a, b) - start) / rate)
            if start + n > last:
                still.append(e)
        sounding = still
        yield out


def write_wav(events: list[NoteEvent], path: str | Path, rate: int = WAV_RATE) -> None:
    """Write a mono 16-bit WAV synthesised from the events (no sound font needed) to `path`.

    Length is audio_length(events). The mix goes to a temporary file of floats a
    chunk at a time while its peak is noted, then is scaled to the peak and written
    out a chunk at a time, so memory stays that of one chunk.
    """
    total = int(round(audio_length(events) * rate))
    peak = 0.0
    with tempfile.TemporaryFile(dir=Path(path).parent) as floats:
        for chunk in _mix(events, rate, total):
            peak = max(peak, float(np.max(np.abs(chunk), initial=0.0)))
            floats.write(chunk.astype("<f4").tobytes())
        floats.seek(0)
        scale = 0.89 * 32767 / peak if peak > 0 else 0.0
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            while data := floats.read(WAV_CHUNK * 4):
                w.writeframes((np.frombuffer(data, "<f4") * scale).astype("<i2").tobytes())
