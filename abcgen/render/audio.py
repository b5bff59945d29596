"""The tune as sound: note events in seconds, tempo, the playing-time bound, MIDI and WAV.

music21's MIDI writer chokes on malformed repeats and mishandles chord symbols and
grace notes, so MIDI and WAV are built here from our own note events. The events
come before any MIDI or audio, so a tune that would play for hours is refused
(`check_playing_time`, also given the written length before the score is built)
before a byte of either is made, and the WAV is synthesised
a few seconds at a time straight to disk, so its memory does not grow with the tune.

The WAV is played by a General MIDI soundfont (abcgen.render.soundfont) when one is installed,
else by abcgen's own synthesizer (abcgen.render.synth), on the instrument of the MIDI file.
"""

from __future__ import annotations

import io
import re
import tempfile
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from abcgen.abc.header import default_unit, meter_length, parse_meter, parse_unit, split_tune, tempo_bpm
from abcgen.errors import FieldError, RenderError
from abcgen.render import ornaments, playing, soundfont, synth
from abcgen.render.instruments import CHORD_PROGRAM, DEFAULT, Instrument, instrument
from abcgen.render.notation import parts
from abcgen.render.soundfont import DRUM_CHANNEL
from abcgen.tune_types import TUNE_TYPES, tune_type

FALLBACK_BPM = 120.0  # quarter notes a minute when neither Q:, R: nor the meter suggests a tempo
MIN_BPM, MAX_BPM = 20.0, 600.0  # the tempo a caller may ask for, in quarter notes a minute
MAX_PLAY_S = 600.0  # ten minutes: longer than any folk tune played with all its repeats

GRACE_QL = 0.125  # a grace note lasts 1/32 of a whole note, taken from the next note
RELEASE_S = 0.25  # audio tail after the last note ends
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


def _timeline(part, loop: str) -> list[tuple[object, Fraction]]:
    """(bar, its onset in quarter notes) in the order played: repeats played out, or the looped
    part or bars LOOP_TIMES over (playing.loop_measures)."""
    from music21 import spanner

    if not loop:
        return [(m, Fraction(m.offset)) for m in _measures(_expanded(part))]
    later_endings = {id(m) for rb in part.spannerBundle.getByClass(spanner.RepeatBracket)
                     if "1" not in re.findall(r"\d+", str(rb.number or 1)) for m in rb.getSpannedElements()}
    chosen = playing.loop_measures(_measures(part), loop, later_endings)
    out, at = [], Fraction(0)
    for _ in range(playing.LOOP_TIMES):
        for m in chosen:
            out.append((m, at))
            at += Fraction(m.duration.quarterLength)
    return out


def _chord_tones(symbol) -> list[int]:
    """Bass note around C2-B2 plus the chord's pitch classes between E3 and D#4."""
    pitches = list(symbol.pitches)
    if not pitches:
        return []  # N.C. (no chord)
    tones = {48 + p.pitchClass + (12 if p.pitchClass < 4 else 0) for p in pitches}
    bass = symbol.bass() or pitches[0]
    return [36 + bass.pitchClass] + sorted(tones)


def meter(score) -> tuple[int, int]:
    """(numerator, denominator) of the tune's first meter; 4/4 without one."""
    ts = next(iter(score.recurse().getElementsByClass("TimeSignature")), None)
    return (ts.numerator, ts.denominator) if ts else (4, 4)


class _Voice:
    """The notes of one part as they are played: ties merged, grace notes taking time from the note
    after them, rolls played out, straight eighths swung. Times in quarter notes."""

    def __init__(self, score, part, swing: float):
        self.swing, self.beat = swing, playing.beat_of(*meter(score))
        self.key = next(iter(part.recurse().getElementsByClass("KeySignature")), None)
        self.notes: list[tuple[Fraction, Fraction, int, int]] = []  # onset, length, pitch, velocity
        self.open_ties: dict[int, list] = {}
        self.graces: list[tuple[Fraction, list[int]]] = []

    def times(self, m_start: Fraction, padding: Fraction, offset: Fraction, length: Fraction):
        """(onset, length) of a note written at `offset` into a bar starting at `m_start`, swung."""
        start = playing.swung(padding + offset, self.beat, self.swing)
        end = playing.swung(padding + offset + length, self.beat, self.swing)
        return m_start + start - padding, end - start

    def add(self, el, onset: Fraction, length: Fraction, velocity: int) -> None:
        notes = list(el.notes) if el.isChord else [el]
        if self.graces:  # grace notes steal time from this note, at most half of it
            steal = min(GRACE_QL * len(self.graces), length / 2)
            each = steal / len(self.graces)
            for i, (_, grace_pitches) in enumerate(self.graces):
                self.notes += [[onset + i * each, each, p, MELODY_VELOCITY] for p in grace_pitches]
            onset, length = onset + steal, length - steal
            self.graces = []
        if ornaments.is_rolled(el):
            self.notes += [[t, d, p, velocity] for t, d, p in ornaments.roll(onset, length, el, self.key)]
            return
        for n in notes:
            p, tie = n.pitch.midi, n.tie or el.tie
            tie = tie.type if tie else None
            held = self.open_ties.get(p)
            if tie in ("stop", "continue") and held and held[0] + held[1] == onset:
                held[1] += length
                note = held
            else:
                note = [onset, length, p, velocity]
                self.notes.append(note)
            if tie in ("start", "continue"):
                self.open_ties[p] = note
            else:
                self.open_ties.pop(p, None)

    def finish(self) -> None:
        for onset, pitches in self.graces:  # grace notes with nothing after them
            self.notes += [[onset, Fraction(GRACE_QL), p, MELODY_VELOCITY] for p in pitches]


def note_events(score, bpm: float, swing: float = 0.0, loop: str = "", count_in: bool = False) -> list[NoteEvent]:
    """Sounding notes in seconds at `bpm` quarter notes per minute.

    Repeats and endings are expanded (or, with `loop`, the part or bars looped), tied notes merged,
    grace notes short and taken from the note that follows, rolls played, straight eighths swung
    (playing.swung), and chord symbols become an accompaniment track (1) struck at the symbol and
    again at each new bar. `count_in` puts a bar of ticks (track 2) first. A tempo change inside the
    tune is not followed.

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
        voice = _Voice(score, part, swing)
        for measure, m_start in _timeline(part, loop):
            if part_index == 0:
                bar_starts.append(m_start)
            padding = Fraction(getattr(measure, "paddingLeft", 0) or 0)
            for el in measure.flatten().notes:
                onset, length = voice.times(m_start, padding, Fraction(el.offset), Fraction(el.quarterLength))
                if isinstance(el, harmony.ChordSymbol):
                    if part_index == 0:
                        chords.append((onset, _chord_tones(el)))
                elif el.duration.isGrace:
                    voice.graces.append((onset, [n.pitch.midi for n in (el.notes if el.isChord else [el])]))
                else:
                    end_ql = max(end_ql, onset + length)
                    accent = not padding and el.offset == 0
                    voice.add(el, onset, length, ACCENT_VELOCITY if accent else MELODY_VELOCITY)
        voice.finish()
        events += [NoteEvent(float(t * seconds), float(d * seconds), p, v, 0) for t, d, p, v in voice.notes]
    events += _accompaniment(chords, bar_starts, end_ql, seconds)
    if count_in:
        events = _count_in(events, meter(score), seconds)
    events.sort(key=lambda e: (e.start, e.track, e.pitch))
    return events


def _count_in(events: list[NoteEvent], meter: tuple[int, int], seconds: float) -> list[NoteEvent]:
    """The events a bar later, after a tick on each beat of the bar (the first one higher)."""
    beat = playing.beat_of(*meter)
    bar = Fraction(4 * meter[0], meter[1])
    beats = max(1, int(bar / beat))
    shift = float(beats * beat * seconds)
    for e in events:
        e.start += shift
    ticks = [NoteEvent(float(i * beat * seconds), 0.1, 76 if i == 0 else 77, 110, 2) for i in range(beats)]
    return ticks + events


def written_pitches(score) -> list[tuple[int, int]]:
    """(MIDI pitch, bar number) of every note as written, chord symbols left out: for range checks."""
    from music21 import harmony

    return [(p.midi, m.number) for part in parts(score) for m in _measures(part) for el in m.flatten().notes
            if not isinstance(el, harmony.ChordSymbol) for p in el.pitches]


def count_in_seconds(events: list[NoteEvent]) -> float:
    """How long the count-in lasts (0 without one): where the first note after the ticks starts."""
    if not any(e.track == 2 for e in events):
        return 0.0
    return min((e.start for e in events if e.track != 2), default=0.0)


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


def _channel_notes(events: list[NoteEvent], player: Instrument) -> list[tuple[float, float, int, int, int]]:
    """(start s, end s, channel, pitch, velocity): melody on channel 0 in the player's octave, chords
    on 1, ticks on the drum channel; overlapping notes of one pitch on one channel cut short (a
    channel cannot sound one pitch twice at once)."""
    channel = {0: 0, 1: 1, 2: DRUM_CHANNEL}
    notes = sorted((e.start, e.end, channel[e.track], e.pitch + (12 * player.octave if e.track == 0 else 0),
                    e.velocity) for e in events)
    last: dict[tuple[int, int], int] = {}
    for i, (start, end, ch, pitch, velocity) in enumerate(notes):
        before = last.get((ch, pitch))
        if before is not None and notes[before][1] > start:
            s, _, *rest = notes[before]
            notes[before] = (s, start, *rest)
        last[(ch, pitch)] = i
    return [n for n in notes if n[1] > n[0]]


def to_midi(events: list[NoteEvent], bpm: float, player: Instrument | None = None) -> bytes:
    """Standard MIDI file: the melody track on the player's General MIDI program and, if any, a
    softer guitar chord track and the count-in ticks on the drum channel."""
    from midiutil import MIDIFile

    player = player or instrument(DEFAULT)
    used = sorted({e.track for e in events} | {0})
    names = {0: ("Melody", player.program), 1: ("Chords", CHORD_PROGRAM), 2: ("Count-in", 0)}
    midi = MIDIFile(len(used), adjust_origin=False, deinterleave=False, ticks_per_quarternote=MIDI_TICKS,
                    eventtime_is_ticks=True)
    channel_track = {}
    for track, kind in enumerate(used):
        channel = {0: 0, 1: 1, 2: DRUM_CHANNEL}[kind]
        channel_track[channel] = track
        midi.addTrackName(track, 0, names[kind][0])
        midi.addTempo(track, 0, bpm)
        if kind != 2:
            midi.addProgramChange(track, channel, 0, names[kind][1])
    ticks = bpm / 60.0 * MIDI_TICKS
    for start, end, channel, pitch, velocity in _channel_notes(events, player):
        a, b = round(start * ticks), round(end * ticks)
        if b > a:
            midi.addNote(channel_track[channel], channel, pitch, a, b - a, velocity)
    out = io.BytesIO()
    midi.writeFile(out)
    return out.getvalue()


BUILT_IN = "abcgen's built-in synthesizer (no soundfont installed)"


def sound_name() -> str:
    """What the WAV files of this process are played with: the soundfont's file name, or BUILT_IN."""
    player = soundfont.player(WAV_RATE)
    return player.name if player else BUILT_IN


def write_wav(events: list[NoteEvent], path: str | Path, player: Instrument | None = None,
              rate: int = WAV_RATE) -> str:
    """Write a mono 16-bit WAV of the events, played on `player` (default the fiddle), to `path`;
    returns what played it (sound_name).

    The soundfont plays when one is installed, else the built-in synthesizer. Length is
    audio_length(events). The mix goes to a temporary file of floats a chunk at a time while its
    peak is noted, then is scaled to the peak and written out a chunk at a time, so memory stays
    that of one chunk.
    """
    player = player or instrument(DEFAULT)
    total = int(round(audio_length(events) * rate))
    notes = _channel_notes(events, player)
    font = soundfont.player(rate)
    if font:
        chunks = font.chunks(notes, player.program, total, WAV_CHUNK)
    else:
        voices = {0: (100, player.voice), 1: (30, "plucked"), DRUM_CHANNEL: (60, "click")}
        chunks = synth.chunks([(s, e, p, v, *voices[ch]) for s, e, ch, p, v in notes], rate, total, WAV_CHUNK)
    peak = 0.0
    with tempfile.TemporaryFile(dir=Path(path).parent) as floats:
        for chunk in chunks:
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
    return font.name if font else BUILT_IN
