"""Turn one ABC tune into MusicXML, SVG sheet music, MIDI and WAV.

ABC is read by music21 only; verovio sees nothing but music21's MusicXML, because
verovio's own ABC reader can crash the whole process on bad input and draws
repeat endings wrongly. music21's MIDI writer chokes on malformed repeats and
mishandles chord symbols and grace notes, so MIDI and WAV are built here from
our own note events.

`render` runs the work in a separate worker process so that a pathological tune
(or a crash inside a C extension) cannot hang or kill the caller.
"""

from __future__ import annotations

import atexit
import io
import math
import os
import queue
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import wave
from dataclasses import dataclass, field
from fractions import Fraction
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from abcgen.abc import split_tune, tempo_bpm
from abcgen.errors import RenderError

# Tempo, in quarter notes per minute, when neither the caller nor the tune's Q:
# field gives one. Chosen from the R: (rhythm) field first, then from the meter.
RHYTHM_BPM = {
    "reel": 200.0,  # half note = 100
    "jig": 174.0,  # dotted quarter = 116
    "slip jig": 174.0,
    "slide": 174.0,
    "hornpipe": 150.0,  # played slower and dotted
    "strathspey": 130.0,
    "polka": 140.0,
    "waltz": 150.0,  # 50 bars a minute
    "mazurka": 130.0,
    "march": 120.0,
    "air": 80.0,
}
METER_BPM = {
    "4/4": 200.0,  # most 4/4 dance tunes are reels
    "C": 200.0,
    "2/2": 200.0,
    "C|": 200.0,
    "2/4": 140.0,  # polkas and marches
    "3/4": 150.0,
    "3/2": 180.0,  # half note = 90
}
COMPOUND_BPM = 174.0  # 6/8, 9/8, 12/8, 3/8: dotted quarter = 116
FALLBACK_BPM = 120.0
MIN_BPM, MAX_BPM = 20.0, 600.0  # a Q: outside this range is ignored

GRACE_QL = 0.125  # a grace note lasts 1/32 of a whole note, taken from the next note
RELEASE_S = 0.25  # audio tail after the last note ends
NOTE_RELEASE_S = 0.06  # each note fades out over this long after its end, so that it does not click
MELODY_PROGRAM = 40  # General MIDI violin: a fiddle
CHORD_PROGRAM = 24  # nylon guitar, softer than the melody
MELODY_VELOCITY, ACCENT_VELOCITY, CHORD_VELOCITY = 84, 100, 60
MIDI_TICKS = 960  # per quarter note

SVG_OPTIONS = {
    "pageWidth": 2000,  # with scale 40 the page is 800 px wide
    "scale": 40,
    "adjustPageHeight": True,
    "breaks": "auto",
    "header": "none",  # the app shows the title itself
    "footer": "none",
    "svgViewBox": True,  # scales to its container on a web page
    "xmlIdSeed": 1,  # same tune, same ids
}


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


@dataclass
class Rendered:
    """Everything the app shows or offers for download for one tune.

    `duration` is the audio length in seconds (last note end plus a short release);
    `wav` is empty when it was not asked for. `bpm` is quarter notes per minute.
    `timings` holds the seconds spent per step: parse, musicxml, svg, midi
    (including the note events that MIDI and WAV share), wav.
    """

    musicxml: str
    svg_pages: list[str]
    timemap: list[dict]
    midi: bytes
    wav: bytes
    duration: float
    bpm: float
    timings: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- parsing


def _plain_error(exc: BaseException) -> str:
    """music21's messages can be long token dumps; keep the first line, briefly."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 160:
        text = text[:157] + "..."
    kind = type(exc).__name__
    return f"{kind}: {text}" if text else kind


def parse_score(abc: str):
    """Read one ABC tune with music21; a tune book gives its first tune.

    Raises RenderError with a plain message on anything music21 cannot read.
    """
    from music21 import converter, stream

    if not abc or not abc.strip():
        raise RenderError("The tune is empty: there is no ABC to convert.")
    if not re.search(r"^\s*K:", abc, re.MULTILINE):
        raise RenderError("This is not an ABC tune: it has no K: (key) line, which ends the header.")
    tune_starts = [m.start() for m in re.finditer(r"^X:", abc, re.MULTILINE)]
    if len(tune_starts) > 1:
        abc = abc[: tune_starts[1]]  # a tune book: its first tune (and any file header)
    abc = re.sub(r"^([ \t]*Q:)(.*)$", _tidy_tempo_field, abc, flags=re.MULTILINE)
    if not re.search(r"^\s*[LM]:", abc, re.MULTILINE):
        # ABC's default unit note length is 1/8 when L: and M: are both missing;
        # music21 refuses such tunes instead.
        abc = re.sub(r"^(\s*X:.*\n)?", lambda m: (m.group(0) or "") + "L:1/8\n", abc, count=1)
    try:
        score = converter.parseData(abc, format="abc")
    except Exception as exc:  # music21 raises many unrelated exception kinds
        raise RenderError(f"Could not read the tune ({_plain_error(exc)}).") from None
    if isinstance(score, stream.Opus):
        if not score.scores:
            raise RenderError("The text holds no tune.")
        score = score.scores[0]
    if not score.recurse().notes:
        raise RenderError("The tune has no notes to convert.")
    for part in _parts(score):
        if not part.getElementsByClass(stream.Measure):
            # music21 makes no bars for a tune with fewer than two plain bar lines
            part.makeMeasures(inPlace=True)
        _mark_repeat_starts(part)
    return score


def _tidy_tempo_field(match: re.Match) -> str:
    """Q: with single spaces and none around '='.

    music21 counts every empty word in the beat as a whole note, so "Q:1/4 =50"
    would become five quarter notes = 50.
    """
    value = " ".join(match.group(2).split())
    return match.group(1) + re.sub(r" ?= ?", "=", value)


def _mark_repeat_starts(part) -> None:
    """Make the repeat signs say what folk ABC means by them.

    A ':|' with no '|:' before it repeats back to the previous ':|' (ABC often
    leaves out the '|:' of a second part), and a '|:' that is never closed is
    dropped. Left alone, music21 would replay the whole tune or give up, and
    verovio would do something else again, so audio and note highlighting would
    disagree.
    """
    from music21 import bar, spanner, stream

    def is_repeat(barline, direction):
        return isinstance(barline, bar.Repeat) and barline.direction == direction

    measures = list(part.getElementsByClass(stream.Measure))
    in_ending = {id(m) for rb in part.spannerBundle.getByClass(spanner.RepeatBracket) for m in rb.getSpannedElements()}
    section, open_start = 0, None
    for i, m in enumerate(measures):
        if is_repeat(m.leftBarline, "start"):
            if open_start is not None:
                measures[open_start].leftBarline = None
            open_start = i
        if is_repeat(m.rightBarline, "end"):
            if open_start is None and 0 < section <= i and id(measures[section]) not in in_ending:
                measures[section].leftBarline = bar.Repeat(direction="start")
            section, open_start = i + 1, None
            while section < len(measures) and id(measures[section]) in in_ending:
                section += 1
    if open_start is not None:
        measures[open_start].leftBarline = None


def _parts(score):
    from music21 import stream

    parts = list(score.parts) if isinstance(score, stream.Score) else []
    return parts or [score]


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

    for part_index, part in enumerate(_parts(score)):
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


# --------------------------------------------------------------------------- formats


def to_musicxml(score) -> str:
    """MusicXML text, without music21's placeholder title and composer.

    Unlike music21's own export this does not pad short bars (the bar before a
    repeat that completes a pickup) with hidden rests, so verovio's timemap keeps
    in step with `note_events`. The score gets its beams and ties in place instead
    of on a copy: copying a score with slurs costs 3-4 times the export itself.
    """
    from music21 import stream
    from music21.musicxml.m21ToXml import GeneralObjectExporter, ScoreExporter

    try:
        _writable_tempo_marks(score)
        if score.metadata is not None and not score.metadata.title:
            score.metadata.title = " "  # otherwise music21 writes "Music21 Fragment"
        if isinstance(score, stream.Score):
            score.makeNotation(inPlace=True)
            exporter = ScoreExporter(score, makeNotation=True)
            exporter.parse()
            xml = exporter.asBytes().decode("utf-8")
        else:
            xml = GeneralObjectExporter(score).parse().decode("utf-8")
    except Exception as exc:
        raise RenderError(f"Could not write MusicXML for the tune ({_plain_error(exc)}).") from None
    return xml.replace('<creator type="composer">Music21</creator>', "")


def _writable_tempo_marks(score) -> None:
    """Make every metronome mark one that MusicXML can write as "note value = number".

    ABC allows a beat of several note values ("Q:1/4 3/8 1/4 3/8=40") or of a value
    no single note shows ("Q:5/8=60"). music21 keeps such a beat as a complex
    duration, and its MusicXML export then fails with "Cannot convert complex
    durations"; the mark becomes quarter notes at the same speed instead. A mark
    with no beat length or a tempo of zero or less makes music21 divide by zero and
    means nothing, so it is dropped (the audio never takes its tempo from these marks).
    """
    from music21 import duration, tempo
    from music21.musicxml.m21ToXml import typeToMusicXMLType
    from music21.musicxml.xmlObjects import MusicXMLExportException

    for mark in list(score.recurse().getElementsByClass(tempo.MetronomeMark)):
        beat = float(mark.referent.quarterLength)
        numbers = [n for n in (mark.number, mark.numberSounding) if n is not None]
        if beat <= 0 or any(n <= 0 for n in numbers):
            score.remove(mark, recurse=True)
            continue
        try:
            typeToMusicXMLType(mark.referent.type)
        except MusicXMLExportException:
            implicit = mark.numberImplicit  # an implied number stays unprinted
            if mark.number is not None:
                mark.number = round(mark.number * beat, 2)
            if mark.numberSounding is not None:
                mark.numberSounding = mark.numberSounding * beat
            mark.numberImplicit = implicit
            mark.referent = duration.Duration(1.0)


_toolkit = None


def _verovio():
    """One toolkit per process: creating it loads fonts, which takes a while."""
    global _toolkit
    if _toolkit is None:
        import verovio

        verovio.enableLog(False)
        _toolkit = verovio.toolkit()
    return _toolkit


def to_svg(musicxml: str, bpm: float | None = None) -> tuple[list[str], list[dict]]:
    """Engrave MusicXML with verovio: one SVG per page and the note timemap.

    The timemap lists {"tstamp" (ms), "qstamp" (quarter notes), "on", "off"} with
    repeats played out; ids of repeated notes are reduced to the engraved note's id,
    so every id in it is found in the SVG. With `bpm`, tstamp follows that tempo
    instead of the one written in the score.
    """
    tk = _verovio()
    tk.setOptions(SVG_OPTIONS)
    if not tk.loadData(musicxml):
        raise RenderError("Could not engrave the tune: the sheet music renderer rejected the MusicXML.")
    pages = [tk.renderToSVG(page) for page in range(1, tk.getPageCount() + 1)]
    timemap = []
    for entry in tk.renderToTimemap():
        entry = dict(entry)
        for key in ("on", "off"):
            if key in entry:
                entry[key] = [re.sub(r"-rend\d+$", "", i) for i in entry[key]]
        if bpm:
            entry["tstamp"] = round(entry["qstamp"] * 60000.0 / bpm, 3)
            if "tempo" in entry:
                entry["tempo"] = bpm
        timemap.append(entry)
    return pages, timemap


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


def to_wav(events: list[NoteEvent], rate: int = 22050) -> bytes:
    """Mono 16-bit WAV synthesised from the events (no sound font needed).

    Length is the last note's end plus a short release.
    """
    end = max((e.end for e in events), default=0.0) + RELEASE_S
    out = np.zeros(int(math.ceil(end * rate)) + 1, dtype=np.float64)
    size = len(_BRIGHT)
    for e in events:
        n = int((e.duration + NOTE_RELEASE_S) * rate)
        if n <= 0:
            continue
        t = np.arange(n) / rate
        freq = 440.0 * 2 ** ((e.pitch - 69) / 12)
        index = (freq * size * t).astype(np.int64) % size
        if e.track == 0:  # bowed: quick swell, a little bite, then held
            body = np.minimum(t / 0.02, 1.0) * (0.75 + 0.25 * np.exp(-t * 6.0)) * np.exp(-t * 0.3)
            bright = np.exp(-t * 8.0)
            tone = body * ((1 - bright) * _ROUND[index] + bright * _BRIGHT[index])
            gain = e.velocity / 127
        else:  # plucked: instant attack, fast decay, quieter
            body = np.minimum(t / 0.004, 1.0) * np.exp(-t * 2.5)
            tone = body * _ROUND[index]
            gain = 0.45 * e.velocity / 127
        tone *= np.clip(1.0 - (t - e.duration) / NOTE_RELEASE_S, 0.0, 1.0)  # fade out once the note ends
        start = int(e.start * rate)
        out[start:start + n] += gain * tone[: len(out) - start]
    out = out[: int(round(end * rate))]
    peak = np.max(np.abs(out)) if len(out) else 0.0
    if peak > 0:
        out *= 0.89 / peak
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((out * 32767).astype("<i2").tobytes())
    return buf.getvalue()


# --------------------------------------------------------------------------- tempo


def default_bpm(abc: str) -> float:
    """Tempo in quarter notes per minute: Q: field, else by rhythm (R:), else by meter.

    The tables assume the usual unit note length of 1/8; a tune written in
    sixteenths (L:1/16, common for 2/4 reels and airs) plays at half the
    quarter-note rate so that it sounds at the same speed.
    """
    fields, _ = split_tune(abc)
    header = {}
    for letter, value in fields:
        header.setdefault(letter, value)
    written = tempo_bpm(header.get("Q"), default=0.0)  # 0: absent or unreadable
    if MIN_BPM <= written <= MAX_BPM:
        return written
    rhythm = header.get("R", "").lower()
    meter = header.get("M", "").replace(" ", "")
    names = [name for name in sorted(RHYTHM_BPM, key=len, reverse=True) if name in rhythm]  # "slip jig" first
    if names:
        bpm = RHYTHM_BPM[names[0]]
    elif meter in METER_BPM:
        bpm = METER_BPM[meter]
    elif re.fullmatch(r"(3|6|9|12)/8", meter):
        bpm = COMPOUND_BPM
    else:
        bpm = FALLBACK_BPM
    unit = re.fullmatch(r"1/(\d+)", header.get("L", "").replace(" ", ""))
    if unit and int(unit.group(1)) > 0:
        bpm *= min(max(8 / int(unit.group(1)), 0.5), 2.0)
    return min(max(bpm, MIN_BPM), MAX_BPM)


# --------------------------------------------------------------------------- pipeline


def _render_here(abc: str, bpm: float | None, wav: bool) -> Rendered:
    """The whole conversion, in the current process."""
    timings = {}
    clock = time.perf_counter()

    def step(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    score = parse_score(abc)
    bpm = float(bpm) if bpm else default_bpm(abc)
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise RenderError(f"The tempo must be between {MIN_BPM:g} and {MAX_BPM:g} quarter notes a minute, not {bpm:g}.")
    step("parse")
    musicxml = to_musicxml(score)  # before note_events: see its docstring
    step("musicxml")
    pages, timemap = to_svg(musicxml, bpm)
    step("svg")
    events = note_events(score, bpm)
    midi = to_midi(events, bpm)
    step("midi")  # includes building the note events
    audio = to_wav(events) if wav else b""
    step("wav")
    duration = max((e.end for e in events), default=0.0) + RELEASE_S
    return Rendered(musicxml, pages, timemap, midi, audio, duration, bpm, timings)


def _serve(fd: int) -> None:
    """Worker loop: import the heavy libraries once, then render jobs until the pipe closes."""
    import warnings

    warnings.filterwarnings("ignore")
    conn = Connection(fd)
    _verovio()
    parse_score("X:1\nL:1/8\nK:C\nC|\n")  # load music21's ABC reader before any timing starts
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", _render_here(*job)))
        except RenderError as exc:
            conn.send(("error", str(exc)))
        except Exception as exc:
            conn.send(("error", f"The conversion failed unexpectedly ({_plain_error(exc)})."))


class _Worker:
    """A render process and the pipe to it.

    A plain subprocess rather than multiprocessing: a spawned multiprocessing child
    re-runs the parent's main script, which would start a second app in a program
    whose top-level code is not guarded by `if __name__ == "__main__"`.
    """

    START_TIMEOUT = 60.0

    def __init__(self):
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        command = f"from abcgen.render import _serve; _serve({theirs.fileno()})"
        self.process = subprocess.Popen(
            [sys.executable, "-c", command],
            pass_fds=[theirs.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # music21's chatter must not mix with the caller's output
            stderr=subprocess.DEVNULL,
        )
        theirs.close()
        _live_workers.add(self)
        self.conn = Connection(ours.detach())
        try:
            ready = self.conn.poll(self.START_TIMEOUT) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise RenderError(f"The converter process did not start (exit status {self.process.returncode}).")

    def ask(self, job, timeout: float):
        """Send one job and wait for ("ok", Rendered) or ("error", message)."""
        try:
            self.conn.send(job)
            finished = self.conn.poll(timeout)
            if finished:
                return self.conn.recv()
        except (EOFError, OSError):
            raise RenderError("The converter crashed on this tune; check the ABC for errors.") from None
        raise RenderError(
            f"The conversion took longer than {timeout:g} s and was stopped; the tune may be too long or malformed."
        )

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self.conn.close()
        _live_workers.discard(self)


_live_workers: set[_Worker] = set()


@atexit.register
def _stop_workers() -> None:
    """A worker busy with a pathological tune must not outlive the program."""
    for worker in list(_live_workers):
        worker.kill()


POOL_SIZE = 2
MAX_TIMEOUT = 600.0  # seconds; a longer bound is no bound for a web request or the CLI
_idle: queue.LifoQueue | None = None  # workers ready for a job; None means "start one when needed"
_pool_lock = threading.Lock()


def _pool() -> queue.LifoQueue:
    """Idle workers, most recently used first, so one-at-a-time use keeps to one process."""
    global _idle
    with _pool_lock:
        if _idle is None:
            _idle = queue.LifoQueue()
            for _ in range(POOL_SIZE):
                _idle.put(None)
        return _idle


def warm_up() -> None:
    """Start the worker processes now rather than on the first render (about a second)."""
    idle = _pool()
    slots = [idle.get() for _ in range(POOL_SIZE)]
    try:
        for i, worker in enumerate(slots):
            slots[i] = worker or _Worker()
    finally:
        for worker in slots:
            idle.put(worker)


def _check_timeout(timeout) -> None:
    """Refuse a bound that is no bound.

    The pipe's poll fails on inf, NaN and huge values, and a bound of zero or less
    would report a timeout that never happened.
    """
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        raise RenderError(f"The time limit must be a number of seconds, not {timeout!r}.") from None
    if not 0 < seconds <= MAX_TIMEOUT:  # also false for NaN
        raise RenderError(f"The time limit must be more than 0 and at most {MAX_TIMEOUT:g} seconds, not {timeout!r}.")


def render(abc: str, bpm: float | None = None, timeout: float = 20.0, wav: bool = True) -> Rendered:
    """Convert one tune in a worker process, giving up after `timeout` seconds (at most MAX_TIMEOUT).

    `bpm` is quarter notes per minute; None takes the tune's Q: field or a default
    for its rhythm or meter. Starting a worker is not counted in `timeout`.
    On timeout or a crash the worker is killed and replaced by a fresh one.
    """
    _check_timeout(timeout)
    idle = _pool()
    worker = idle.get()
    try:
        if worker is None:
            worker = _Worker()
        status, value = worker.ask((abc, bpm, wav), timeout)
    except BaseException:
        if worker is not None:  # it may still be busy or be broken: never reuse it
            worker.kill()
            worker = None
        raise
    finally:
        idle.put(worker)
    if status == "error":
        raise RenderError(value)
    return value


# --------------------------------------------------------------------------- files


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name beside `path`, then rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_files(rendered: Rendered, abc: str, out_dir, stem: str) -> dict[str, Path]:
    """Write stem.abc/.mid/.musicxml/.wav/.svg, each atomically.

    The SVG is the first page; further pages (rare for a folk tune) go to
    stem-2.svg, stem-3.svg, ... Returns the paths by kind.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "abc": out / f"{stem}.abc",
        "midi": out / f"{stem}.mid",
        "musicxml": out / f"{stem}.musicxml",
        "wav": out / f"{stem}.wav",
        "svg": out / f"{stem}.svg",
    }
    _write_atomic(paths["abc"], abc.encode("utf-8"))
    _write_atomic(paths["midi"], rendered.midi)
    _write_atomic(paths["musicxml"], rendered.musicxml.encode("utf-8"))
    _write_atomic(paths["wav"], rendered.wav)
    for number, page in enumerate(rendered.svg_pages, start=1):
        name = paths["svg"] if number == 1 else out / f"{stem}-{number}.svg"
        _write_atomic(name, page.encode("utf-8"))
    return paths
