"""Conversions from ABC to MIDI, SVG, WAV and MusicXML, checked on real and hand-written tunes.

Expected values come from outside the code under test where possible: hand-expanded
note lists, and verovio's own reading of the MusicXML for corpus tunes.
"""

import io
import os
import re
import signal
import threading
import wave
from pathlib import Path

import music21
import pytest
from music21 import midi as m21midi

from abcgen import convert
from abcgen.render.playing import Playing
from abcgen.render import audio
from abcgen.render import notation
from abcgen.render import outputs as render
from abcgen.render import worker
from abcgen.errors import RenderError
from conftest import wait_for

CORPUS = Path(music21.__file__).parent / "corpus"

# Hand-written: repeats with first and second endings, at a stated tempo.
ENDINGS = """X:1
T:Endings
M:4/4
L:1/4
Q:1/4=120
K:C
|:C D E F|G A B c|1 c B A G:|2 c G E C|]
"""
ENDINGS_PITCHES = [60, 62, 64, 65, 67, 69, 71, 72, 72, 71, 69, 67,
                   60, 62, 64, 65, 67, 69, 71, 72, 72, 67, 64, 60]

# Eight bars of 4/4 without repeats: 16 s at 120 quarter notes a minute.
EIGHT_BARS = """X:2
T:Eight bars
M:4/4
L:1/8
K:D
DEFG ABcd|e2d2 c2B2|A2F2 D4|E2F2 G4|
ABcd efga|g2f2 e2d2|c2A2 B2c2|d4 d4|]
"""

CHORDS = """X:3
T:Chords
M:4/4
L:1/8
Q:1/4=120
K:G
"G"G2B2 d2B2|"C"c2e2 "D7"d2c2|B2A2 G2A2|"G"G8|]
"""

ORNAMENTS = """X:4
T:Ornaments
M:4/4
L:1/8
Q:1/4=60
K:G
G2 {a}B2 (3efg d2|G8-|G4 A4|]
"""

# The beat is a whole 5/8 bar, a value no single note shows: music21 keeps it as a
# complex duration and its MusicXML export used to fail ("Cannot convert complex durations").
FIVE_EIGHT = """X:5
T:Five-eight
M:5/8
L:1/8
Q:5/8=60
K:Ador
ABc BA|GAB dB|AGE GA|A3 A2|]
"""


def render_tune(abc: str, **options) -> render.Rendered:
    """render() with a bound generous enough for a busy test machine."""
    return render.render(abc, **{"timeout": 120, **options})


def corpus_tune(relative: str) -> str:
    return (CORPUS / relative).read_text(encoding="utf-8")


# Real tunes: endings, grace notes, ties, chords ([..]), triplets, chord symbols, pickups.
CORPUS_TUNES = {
    "endings, chords, grace notes": "ryansMammoth/CzarOfRussiasFavoriteHornpipe.abc",
    "triplets, endings, chord": "ryansMammoth/EssenceOfSugarCane.abc",
    "grace notes, triplets, endings": "ryansMammoth/PulaskiGuardsReel.abc",
    "ties, grace notes, endings, segno": "ryansMammoth/EssenceOfOldVirginny.abc",
    "second part without |:": "ryansMammoth/ArkansasTravellerReel.abc",
}


def midi_tracks(data: bytes) -> tuple[int, int, list[dict]]:
    """(ticks per quarter, microseconds per quarter, tracks with name and [(tick, end, pitch)])."""
    mf = m21midi.MidiFile()
    mf.readstr(data)
    tempo, tracks = None, []
    for track in mf.tracks:
        tick, name, started, notes = 0, "", {}, []
        for event in track.events:
            if isinstance(event, m21midi.DeltaTime):
                tick += event.time
            elif event.type == m21midi.MetaEvents.SET_TEMPO:
                tempo = int.from_bytes(event.data, "big")
            elif event.type == m21midi.MetaEvents.SEQUENCE_TRACK_NAME:
                name = event.data.decode()
            elif event.type == m21midi.ChannelVoiceMessages.NOTE_ON and event.velocity > 0:
                started.setdefault(event.pitch, []).append(tick)
            elif event.type in (m21midi.ChannelVoiceMessages.NOTE_OFF, m21midi.ChannelVoiceMessages.NOTE_ON):
                notes.append((started[event.pitch].pop(0), tick, event.pitch))
        if name or notes:
            tracks.append({"name": name, "notes": sorted(notes)})
    return mf.ticksPerQuarterNote, tempo, tracks


def wav_info(data: bytes) -> tuple[int, float, int]:
    with wave.open(io.BytesIO(data)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        frames = w.readframes(w.getnframes())
        peak = max(abs(int.from_bytes(frames[i:i + 2], "little", signed=True)) for i in range(0, len(frames), 200))
        return w.getframerate(), w.getnframes() / w.getframerate(), peak


@pytest.fixture(scope="module")
def corpus_renders():
    straight = Playing(swing=0)  # the MIDI is compared with the engraved beats: no lilt
    return {name: render_tune(corpus_tune(path), bpm=120, play=straight) for name, path in CORPUS_TUNES.items()}


# --- MIDI ------------------------------------------------------------------------------------------


def test_midi_plays_repeats_and_endings_in_order_at_the_written_tempo():
    rendered = render_tune(ENDINGS)
    assert rendered.bpm == 120
    tpq, tempo, tracks = midi_tracks(rendered.midi)
    assert tempo == 500_000  # 120 quarter notes a minute
    assert [t["name"] for t in tracks] == ["Melody"]
    notes = tracks[0]["notes"]
    assert [p for _, _, p in notes] == ENDINGS_PITCHES
    assert [start for start, _, _ in notes] == [i * tpq for i in range(24)]
    assert rendered.duration == pytest.approx(12 + audio.RELEASE_S)


def test_ties_merge_grace_notes_are_short_and_triplets_divide_the_beat():
    events = [e for e in audio.note_events(notation.parse_score(ORNAMENTS), 60) if e.track == 0]
    # at 60 quarter notes a minute one second is one quarter note
    got = [(round(e.start, 4), round(e.duration, 4), e.pitch) for e in events]
    assert got == [
        (0, 1, 67),
        (1, 0.125, 81),  # grace note a, taken from the B that follows
        (1.125, 0.875, 71),
        (2, 0.3333, 76), (2.3333, 0.3333, 78), (2.6667, 0.3333, 79),
        (3, 1, 74),
        (4, 6, 67),  # G8-|G4 is one note across the bar line
        (10, 2, 69),
    ]


@pytest.mark.parametrize("name", list(CORPUS_TUNES))
def test_corpus_midi_agrees_with_the_engraved_score(corpus_renders, name):
    """Every MIDI note is a note verovio engraves at the same beat (repeats played out)."""
    import verovio

    rendered = corpus_renders[name]
    verovio.enableLog(False)
    tk = verovio.toolkit()
    tk.loadData(rendered.musicxml)
    tk.renderToSVG(1)
    engraved, graces = set(), 0
    for entry in tk.renderToTimemap():
        for note_id in entry.get("on", []):
            note_id = note_id.split("-rend")[0]  # a repeated note keeps its engraved id
            if "grace" in tk.getElementAttr(note_id):
                graces += 1
            else:
                engraved.add((round(entry["qstamp"] * 96), tk.getMIDIValuesForElement(note_id)["pitch"]))
    tpq, tempo, tracks = midi_tracks(rendered.midi)
    assert tempo == 500_000
    played = [(round(s * 96 / tpq), round(e * 96 / tpq), p) for s, e, p in tracks[0]["notes"]]  # 96ths of a quarter
    starts = {(s, p) for s, _, p in played}
    # all but the grace notes, and the notes that give them time, start on an engraved note
    assert len(starts & engraved) >= len(played) - 2 * graces
    # an engraved note we do not strike continues a tied note, or starts a little later after a grace
    for q, pitch in engraved - starts:
        assert any(s < q < e and p == pitch for s, e, p in played) or any(
            abs(s - q) <= audio.GRACE_QL * 96 and p == pitch for s, _, p in played), (q, pitch)


@pytest.mark.parametrize("name", list(CORPUS_TUNES))
def test_svg_engraves_every_note_and_timemap_ids_are_in_it(corpus_renders, name):
    rendered = corpus_renders[name]
    svg = "".join(rendered.svg_pages)
    assert svg.lstrip().startswith("<svg") and 'viewBox="' in svg
    score = notation.parse_score(corpus_tune(CORPUS_TUNES[name]))
    written = sum(len(n.pitches) for n in score.recurse().notes if not isinstance(n, music21.harmony.ChordSymbol))
    assert abs(svg.count('class="note"') - written) <= max(2, written // 50)
    ids = set(re.findall(r'id="([^"]+)"', svg))
    timemap_ids = {i for entry in rendered.timemap for i in entry.get("on", []) + entry.get("off", [])}
    assert timemap_ids and timemap_ids <= ids
    # the timemap follows the rendered tempo: 120 quarter notes a minute is 500 ms a quarter
    assert all(entry["tstamp"] == pytest.approx(entry["qstamp"] * 500, abs=1e-3) for entry in rendered.timemap)


def test_musicxml_round_trips_through_music21(corpus_renders):
    rendered = corpus_renders["endings, chords, grace notes"]
    again = music21.converter.parseData(rendered.musicxml, format="musicxml")
    original = notation.parse_score(corpus_tune(CORPUS_TUNES["endings, chords, grace notes"]))

    def pitches(score):
        return [p.midi for n in score.recurse().notes for p in n.pitches]

    assert pitches(again) == pitches(original)
    assert "Music21" not in rendered.musicxml  # no placeholder title or composer


def test_a_beat_no_single_note_shows_converts_to_every_format():
    rendered = render_tune(FIVE_EIGHT)
    assert rendered.bpm == 150  # five eighths at 60 a minute are 150 quarter notes a minute
    assert re.search(r"<beat-unit>quarter</beat-unit>\s*<per-minute>150</per-minute>", rendered.musicxml)
    assert '<sound tempo="150"' in rendered.musicxml
    assert "".join(rendered.svg_pages).count('class="note"') == 17
    _, _, tracks = midi_tracks(rendered.midi)
    assert len(tracks[0]["notes"]) == 17
    assert wav_info(rendered.wav)[1] == pytest.approx(rendered.duration, abs=0.01)


@pytest.mark.parametrize("tempo, per_minute", [
    ("1/4 3/8 1/4 3/8=40", "200"),  # ABC's beat of several note values: five quarters
    ("1/4 =50", "50"),  # music21 would read the space as another whole note (a real corpus tune)
    ('"Allegro" 3/8 = 100', "100"),
])
def test_tempo_marks_music21_cannot_write_are_rewritten_or_dropped(tempo, per_minute):
    score = notation.parse_score(f"X:1\nM:4/4\nL:1/8\nQ:{tempo}\nK:C\nCDEF GABc|]\n")
    written = re.findall(r"<per-minute>([^<]*)</per-minute>", notation.to_musicxml(score))
    assert written == ([per_minute] if per_minute else [])


# --- WAV and tempo ---------------------------------------------------------------------------------


def test_wav_length_follows_the_tempo():
    rate, seconds, peak = wav_info(render_tune(EIGHT_BARS, bpm=120).wav)
    assert rate == 22050
    assert seconds == pytest.approx(16 + audio.RELEASE_S, abs=0.01)
    assert peak > 20_000  # normalised, not silent
    _, faster, _ = wav_info(render_tune(EIGHT_BARS, bpm=240).wav)
    assert faster == pytest.approx(8 + audio.RELEASE_S, abs=0.01)


def test_default_tempo_comes_from_q_then_rhythm_then_meter():
    assert audio.default_bpm(ENDINGS) == 120
    assert audio.default_bpm(ENDINGS.replace("Q:1/4=120", "Q:3/8=100")) == 150
    jig = "X:1\nM:6/8\nL:1/8\nK:D\nABc def|\n"
    assert audio.default_bpm(jig) == 174  # dotted quarter 116
    reel_in_sixteenths = "X:1\nR:reel\nM:2/4\nL:1/16\nK:D\nABcd efga|\n"
    assert audio.default_bpm(reel_in_sixteenths) == 100
    assert audio.default_bpm("X:1\nM:4/4\nL:1/8\nK:D\nABcd efga|\n") == 200  # reel, half note 100
    assert audio.default_bpm("X:1\nM:5/4\nK:D\nA|\n") == audio.FALLBACK_BPM
    assert render_tune(EIGHT_BARS, wav=False).bpm == 200


# --- bounds and bad input --------------------------------------------------------------------------


# Repeated parts: music21 takes a while over them (seconds for 150), well within the bar limit.
def repeated(parts: int) -> str:
    return ENDINGS + "|:C D E F|G A B c|1 c B A G:|2 c G E C|]\n" * parts


def test_timeout_stops_the_work_and_the_next_tune_still_converts():
    render.warm_up()
    with pytest.raises(RenderError, match="This tune took longer than 2 s"):
        render.render(repeated(150), timeout=2, bpm=600)  # 4 minutes: within the playing-time bound
    assert render_tune(ENDINGS, wav=False).midi


def render_while(action, abc: str, **options):
    """render_tune(abc) in a thread; `action(pid)` is done to the worker once it has the job.
    Returns the Rendered or the RenderError, and the pid acted on."""
    render.warm_up()
    idle = set(worker.pool().idle)
    outcome = []

    def run():
        try:
            outcome.append(render_tune(abc, **options))
        except RenderError as e:
            outcome.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    found = []

    def busy() -> bool:
        found[:] = [w for w in list(worker._live) if w in idle and w not in worker.pool().idle]
        return bool(found)
    wait_for(busy, 120, "a worker taking the job")
    taken = found[0]
    action(taken.process.pid)
    thread.join(300)
    return outcome[0], taken.process.pid


def test_a_worker_killed_from_outside_is_replaced_and_the_tune_still_converts():
    result, pid = render_while(lambda pid: os.kill(pid, signal.SIGKILL), repeated(10), bpm=600, wav=False)
    assert result.duration == pytest.approx(11 * 24 / 10 + audio.RELEASE_S)  # all of it
    assert pid not in {w.process.pid for w in worker.pool().idle}


def test_a_worker_that_crashes_on_a_tune_becomes_a_render_error():
    result, _ = render_while(lambda pid: os.kill(pid, signal.SIGSEGV), repeated(10))  # as a C extension crashes
    assert isinstance(result, RenderError) and "crashed on this tune" in str(result)
    assert render_tune(ENDINGS, wav=False).midi


def test_a_worker_stopped_during_a_tune_is_not_blamed_on_the_tune():
    result, _ = render_while(lambda pid: os.kill(pid, signal.SIGSTOP), repeated(10), timeout=3)
    assert isinstance(result, RenderError) and "renderer is busy" in str(result)
    assert render_tune(ENDINGS, wav=False).midi  # the stopped worker was replaced


def test_dead_and_stopped_idle_workers_are_replaced_before_the_next_tune():
    render.warm_up()
    first, second = worker.pool().idle[:2]
    os.kill(first.process.pid, signal.SIGKILL)
    os.kill(second.process.pid, signal.SIGSTOP)
    first.process.wait()
    wait_for(lambda: worker._proc_stat(second.process.pid)[0] == "T", 120, "the worker stopping")
    assert render_tune(ENDINGS, wav=False).midi
    assert not {first, second} & set(worker.pool().idle)


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("hello world, this is not music", "no K:"),
    ("<html><body>nope</body></html>", "no K:"),
    ("X:1\nT:No notes\nK:C\n", "no notes"),
    ("X:1\nM:4/4\nL:1/8\nK:C\n[[[[[|||||::::::]]]]]\n", "Could not read the tune"),
    ("X:1\nM:0/0\nL:1/0\nK:C\nABC|\n", "The meter M:0/0 on line 2"),
])
def test_garbage_gives_a_clear_render_error(text, message):
    with pytest.raises(RenderError, match=re.escape(message)):
        render_tune(text)
    assert render_tune(ENDINGS, wav=False).midi  # the caller and the worker survive


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), -1, 0, 1e12, worker.MAX_TIMEOUT + 1, "soon"])
def test_a_time_limit_that_is_no_bound_is_refused(timeout):
    with pytest.raises(RenderError, match="time limit must be"):
        render.render(ENDINGS, timeout=timeout)


def test_a_tune_book_renders_its_first_tune():
    book = EIGHT_BARS + "\n" + ENDINGS
    assert render_tune(book, bpm=120, wav=False).duration == pytest.approx(16 + audio.RELEASE_S)


def test_write_files_writes_every_format_and_no_temporary_files(tmp_path):
    rendered = render_tune(ENDINGS)
    paths = render.write_files(rendered, ENDINGS, tmp_path, "endings")
    assert set(paths) == {"abc", "midi", "musicxml", "wav", "svg"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["endings.abc", "endings.mid", "endings.musicxml", "endings.wav", "endings.svg"])
    assert paths["midi"].read_bytes() == rendered.midi
    assert paths["abc"].read_text() == ENDINGS


# --- command line ----------------------------------------------------------------------------------


def test_convert_cli_writes_five_files_per_tune_of_a_book(tmp_path, capsys):
    book = tmp_path / "book.abc"
    book.write_text(EIGHT_BARS + "\n" + ENDINGS)
    out = tmp_path / "out"
    assert convert.main([str(book), "--out", str(out), "--tempo", "150", "--timeout", "120"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 10
    for stem in ("book-2-eight-bars", "book-1-endings"):
        assert {f"{stem}.{ext}" for ext in ("abc", "mid", "musicxml", "wav", "svg")} <= set(names)
    assert "book-2-eight-bars" in capsys.readouterr().out


def test_convert_cli_fails_on_bad_files_and_writes_nothing_for_them(tmp_path, capsys):
    latin1 = tmp_path / "latin1.abc"
    latin1.write_bytes("X:1\nT:Caf\xe9\nK:C\nCDEF|GABc|\n".encode("latin-1"))
    no_tune = tmp_path / "notes.abc"
    no_tune.write_text("just some words\n")
    broken = tmp_path / "broken.abc"
    broken.write_text("X:1\nM:4/4\nL:1/8\nK:C\n[[[[[|||||\n")
    good = tmp_path / "good.abc"
    good.write_text(ENDINGS)
    out = tmp_path / "out"
    args = [str(latin1), str(no_tune), str(broken), str(tmp_path / "missing.abc"), str(good), "--out", str(out)]
    assert convert.main(args + ["--json", "--timeout", "120"]) == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"good.{ext}" for ext in ("abc", "mid", "musicxml", "wav", "svg"))
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "no ABC tune" in err and "Could not read the tune" in err and "no such file" in err


def test_convert_cli_refuses_a_huge_file_before_reading_its_tunes(tmp_path, capsys):
    huge = tmp_path / "huge.abc"
    with open(huge, "wb") as f:  # 50 MB, sparse: a real tune followed by zero bytes
        f.write(ENDINGS.encode())
        f.truncate(50_000_000)
    out = tmp_path / "out"
    assert convert.main([str(huge), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "huge.abc: too large (over 10 MB)" in captured.err
    assert captured.out == ""  # no validation report: refused before any tune was read
    assert list(out.iterdir()) == []


def test_a_tune_book_of_the_whole_corpus_is_not_too_large(tmp_path):
    book = tmp_path / "corpus.abc"
    book.write_text("\n".join(p.read_text(encoding="utf-8")
                              for folder in ("oneills1850", "ryansMammoth", "airdsAirs", "miscFolk")
                              for p in sorted((CORPUS / folder).glob("*.abc"))))
    assert len(convert.read_tunes(book)) > 4000


@pytest.mark.parametrize("body,first", [("dAF DFA|dfe dBAB|fed e3|]\n", 1),      # no pickup, no repeat
                                       ("|:dAF DFA|dfe dBAB|fed e3:|\n", 1),
                                       ("A|dAF DFA|dfe dBAB|fed e2:|\n", 0)])      # a pickup is bar 0
def test_notation_numbers_bars_as_the_report_does(body, first):
    """The engraving's bar numbers are the report's: the bar the validator blames is that bar."""
    import re
    from abcgen.abc import check as abctools
    from abcgen.render import notation
    abc = "X:1\nM:6/8\nL:1/8\nK:D\n" + body
    numbers = [int(n) for n in re.findall(r'<measure[^>]* number="(\d+)"', notation.to_musicxml(notation.parse_score(abc)))]
    assert numbers[0] == first and numbers == list(range(first, first + len(numbers)))
    blamed = [p for p in abctools.validate(abc).errors if p.bar is not None]
    assert blamed and blamed[0].bar == 2                 # "dfe dBAB" is the second full bar
