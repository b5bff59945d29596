"""Sound and practice: the instrument in the MIDI and the WAV, the soundfont and its fallback, swing,
rolls and cuts, count-in, loops, speed and transposition, through the renderer and `convert`."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import wave
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from music21 import midi as m21midi

from abcgen import convert
from abcgen.errors import FieldError, RenderError
from abcgen.render import audio, jobs, notation, ornaments, soundfont
from abcgen.render.instruments import INSTRUMENTS, instrument
from abcgen.render.playing import Playing

HORNPIPE = """X:1
T:Test Hornpipe
M:4/4
L:1/8
Q:1/4=120
R:hornpipe
K:D
|:"D"dcdA FADF|"G"GABc dBAG|1 FAdA FAdA:|2 d2f2 d4||
|:fgaf gefd|~e2 {g}ed cBAG|1 FAdA FAdA:|2 d2f2 d4|]
"""

REEL = HORNPIPE.replace("R:hornpipe", "R:reel").replace("Hornpipe", "Reel")
PLAIN = HORNPIPE.replace("~", "").replace("{g}", "")  # no ornaments: every note on its written beat


def needs_soundfont():
    if soundfont.player(audio.WAV_RATE) is None:
        pytest.skip("no General MIDI soundfont and FluidSynth: apt-get install libfluidsynth3 "
                    "musescore-general-soundfont-small")


def here(abc: str, wav_path=None, **choices) -> jobs.Rendered:
    """The conversion in this process (no worker), with the player's choices."""
    return jobs.render_here(abc, None, str(wav_path) if wav_path else None, Playing(**choices).checked())


def midi_programs_and_notes(data: bytes) -> tuple[dict[int, int], list[tuple[int, int, int]]]:
    """({channel: program}, [(tick, channel, pitch)] of note starts) of a MIDI file."""
    mf = m21midi.MidiFile()
    mf.readstr(data)
    programs, notes = {}, []
    for track in mf.tracks:
        tick = 0
        for event in track.events:
            if isinstance(event, m21midi.DeltaTime):
                tick += event.time
            elif event.type == m21midi.ChannelVoiceMessages.PROGRAM_CHANGE:
                programs[event.channel - 1] = event.data
            elif event.type == m21midi.ChannelVoiceMessages.NOTE_ON and event.velocity > 0:
                notes.append((tick, event.channel - 1, event.pitch))
    return programs, sorted(notes), mf.ticksPerQuarterNote


def spectrum(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float)
    assert np.abs(samples).max() > 1000  # not silent
    frames = samples[: len(samples) // 2048 * 2048].reshape(-1, 2048)
    return np.abs(np.fft.rfft(frames * np.hanning(2048), axis=1)).mean(axis=0)


# --------------------------------------------------------------------------- instrument and soundfont


@pytest.mark.slow
def test_convert_plays_the_fiddle_and_the_flute_with_their_programs_and_names_the_soundfont(tmp_path, capsys):
    needs_soundfont()
    tune = tmp_path / "tune.abc"
    tune.write_text(REEL)
    spectra = {}
    for name, program in (("fiddle", 40), ("flute", 73)):
        out = tmp_path / name
        assert convert.main([str(tune), "--out", str(out), "--instrument", name, "--json"]) == 0
        entry = json.loads(capsys.readouterr().out)["tunes"][0]
        assert entry["instrument"] == name and entry["soundfont"] == soundfont.soundfont_path().name
        programs, _, _ = midi_programs_and_notes((out / "tune.mid").read_bytes())
        assert programs[0] == program and programs[1] == 24  # melody, and the guitar for the chords
        spectra[name] = spectrum(out / "tune.wav")
    assert np.corrcoef(spectra["fiddle"], spectra["flute"])[0, 1] < 0.9


def test_without_a_soundfont_the_built_in_synthesizer_plays_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(soundfont, "player", lambda rate: None)
    fiddle = here(REEL, tmp_path / "fiddle.wav", instrument="fiddle")
    flute = here(REEL, tmp_path / "flute.wav", instrument="flute")
    assert fiddle.sound == flute.sound == audio.BUILT_IN
    assert midi_programs_and_notes(flute.midi)[0][0] == 73  # the MIDI names the flute all the same
    assert np.corrcoef(spectrum(tmp_path / "fiddle.wav"), spectrum(tmp_path / "flute.wav"))[0, 1] < 0.9


def test_soundfont_found_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ABCGEN_SOUNDFONT", "")
    assert soundfont.soundfont_path() is None  # turned off
    font = tmp_path / "mine.sf2"
    font.write_bytes(b"RIFF")
    monkeypatch.setenv("ABCGEN_SOUNDFONT", str(font))
    assert soundfont.soundfont_path() == font


def test_the_same_notes_give_the_same_samples_twice(tmp_path):
    needs_soundfont()
    events = audio.note_events(notation.parse_score(REEL), 240)
    audio.write_wav(events, tmp_path / "a.wav", instrument("accordion"))
    audio.write_wav(events, tmp_path / "b.wav", instrument("piano"))  # another instrument between
    audio.write_wav(events, tmp_path / "c.wav", instrument("accordion"))
    a, b, c = (np.frombuffer((tmp_path / f"{n}.wav").read_bytes()[44:], "<i2").astype(int) for n in "abc")
    assert np.abs(a - c).max() < 300 < np.abs(a - b).max()  # the synthesizer's state does not carry over


def test_every_instrument_is_a_general_midi_program_with_a_range():
    assert {"fiddle", "flute", "tin whistle", "accordion", "concertina", "uilleann pipes", "harp", "piano",
            "guitar"} <= set(INSTRUMENTS)
    assert all(0 <= i.program < 128 and i.low < i.high for i in INSTRUMENTS.values())
    assert instrument("Tin_Whistle").name == "tin whistle"


def test_whistle_sounds_an_octave_up_and_range_warnings_name_the_bar():
    low = "X:1\nT:Low\nM:4/4\nL:1/8\nK:G\nGABc d4|G,A,B,C D4|]\n"
    whistle = here(low, instrument="tin whistle")
    fiddle = here(low, instrument="fiddle")
    assert [p + 12 for _, _, p in midi_programs_and_notes(fiddle.midi)[1]] == \
        [p for _, _, p in midi_programs_and_notes(whistle.midi)[1]]
    assert fiddle.warnings == [] and len(whistle.warnings) == 1
    assert "below the tin whistle's range" in whistle.warnings[0] and "bar 2" in whistle.warnings[0]


# --------------------------------------------------------------------------- swing and ornaments


def off_beat_shares(rendered) -> list[float]:
    """Where each off-beat eighth of the melody starts within its quarter-note beat, in the MIDI."""
    _, notes, tpq = midi_programs_and_notes(rendered.midi)
    starts = sorted({t for t, ch, _ in notes if ch == 0})
    return [(t % tpq) / tpq for t in starts if tpq // 4 < t % tpq < 3 * tpq // 4]


def test_swing_moves_the_off_beat_eighths_of_a_hornpipe():
    assert set(off_beat_shares(here(PLAIN, swing=0))) == {0.5}
    swung = off_beat_shares(here(PLAIN, swing=0.6))
    assert swung and min(swung) >= 0.55 and max(swung) == pytest.approx(0.65)
    assert min(off_beat_shares(here(PLAIN))) >= 0.55  # the hornpipe's own swing
    assert set(off_beat_shares(here(PLAIN.replace("R:hornpipe", "R:reel")))) == {0.5}  # a reel is straight


@pytest.mark.slow
def test_convert_swing_on_a_hornpipe(tmp_path, capsys):
    tune = tmp_path / "hornpipe.abc"
    tune.write_text(PLAIN.replace("R:hornpipe", "R:reel"))  # a type played straight unless asked
    for option, lowest in ((["--swing"], 0.55), (["--swing", "0"], 0.5), ([], 0.5)):
        assert convert.main([str(tune), "--out", str(tmp_path / "out"), *option]) == 0
        _, notes, tpq = midi_programs_and_notes((tmp_path / "out" / "hornpipe.mid").read_bytes())
        shares = {(t % tpq) / tpq for t, ch, _ in notes if ch == 0 and tpq // 4 < t % tpq < 3 * tpq // 4}
        assert shares and min(shares) >= lowest and (lowest > 0.5 or shares == {0.5}), option
    capsys.readouterr()


def test_swing_leaves_dotted_rhythms_and_quarter_notes_alone():
    dotted = "X:1\nT:D\nM:4/4\nL:1/8\nK:D\nd>c B>A d2 A2|]\n"
    events = [e for e in audio.note_events(notation.parse_score(dotted), 60, swing=1.0) if e.track == 0]
    assert [round(e.start, 3) for e in events] == [0, 0.75, 1, 1.75, 2, 3]


def test_a_jig_gets_a_light_lilt():
    jig = "X:1\nT:J\nM:6/8\nL:1/8\nK:D\ndef edB|]\n"
    starts = [e.start for e in audio.note_events(notation.parse_score(jig), 60, swing=0.3) if e.track == 0]
    assert starts[0] == 0 and 0.5 < starts[1] < 0.6 and 1.0 < starts[2] < 1.05 and starts[3] == 1.5


def test_rolls_cuts_and_grace_notes_are_heard():
    score = notation.parse_score("X:1\nT:R\nM:4/4\nL:1/8\nK:D\n~e2 {g}ed cBAG|]\n")
    read = notation.read_tune("X:1\nT:R\nM:4/4\nL:1/8\nK:D\n~e2 {g}ed cBAG|]\n")[0]
    assert ornaments.mark_rolls(score, ornaments.roll_flags(read)) == 1
    played = [(round(e.start, 4), e.pitch) for e in audio.note_events(score, 60) if e.track == 0]
    # the roll on e: e, a cut on f#, e, a tap on d, e; then the cut g before the e
    assert [p for _, p in played[:7]] == [76, 78, 76, 74, 76, 79, 76]
    assert played[5] == (1.0, 79) and played[6][0] == pytest.approx(1.125)


def test_rolls_reach_the_midi_through_the_renderer():
    pitches = [p for _, ch, p in midi_programs_and_notes(here(HORNPIPE, swing=0).midi)[1] if ch == 0]
    plain = [p for _, ch, p in midi_programs_and_notes(here(HORNPIPE.replace("~", ""), swing=0).midi)[1]
             if ch == 0]
    assert len(pitches) == len(plain) + 4 * 2  # the B part, with its roll, is played twice


# --------------------------------------------------------------------------- practice


def test_repeats_and_endings_play_as_written():
    _, notes, tpq = midi_programs_and_notes(here(PLAIN, swing=0).midi)
    bars = {}
    for tick, ch, pitch in notes:
        if ch == 0:
            bars.setdefault(tick // (4 * tpq), []).append(pitch)
    assert len(bars) == 12  # A: 2 bars + 1st ending, 2 bars + 2nd ending; B the same
    assert bars[2] == [66, 69, 74, 69, 66, 69, 74, 69] and bars[5] == [74, 78, 74]  # the two endings
    assert bars[3] == bars[0] and bars[9] == bars[6]


def test_loops_play_a_part_or_bars_four_times_over():
    a = here(HORNPIPE, loop="A", swing=0)
    _, notes, tpq = midi_programs_and_notes(a.midi)
    melody = [(t, p) for t, ch, p in notes if ch == 0]
    assert melody[0] == (0, 74) and max(t for t, _ in melody) < 4 * 3 * 4 * tpq  # 3 bars (1st ending), 4x
    assert [p for t, p in melody if t < 12 * tpq] == [p for t, p in melody if 12 * tpq <= t < 24 * tpq]
    bars = here(HORNPIPE, loop="bars 2-2", swing=0)
    assert [p for t, ch, p in midi_programs_and_notes(bars.midi)[1] if ch == 0][:8] == [67, 69, 71, 73, 74, 71, 69, 67]
    assert a.timemap == []  # the sheet is not followed through a loop
    with pytest.raises(RenderError, match="Loop: the tune has no part C"):
        here(HORNPIPE, loop="C")
    with pytest.raises(RenderError, match="Loop: the tune has no bars 40 to 50"):
        here(HORNPIPE, loop="40-50")


def test_speed_slows_the_sound_but_not_the_written_tempo(tmp_path):
    full = here(HORNPIPE, swing=0)
    half = here(HORNPIPE, tmp_path / "half.wav", swing=0, speed=0.5)
    assert half.bpm == full.bpm == 120 and "Q:1/4=120" in half.abc
    assert half.duration - audio.RELEASE_S == pytest.approx(2 * (full.duration - audio.RELEASE_S))
    assert half.timemap[-1]["tstamp"] == pytest.approx(2 * full.timemap[-1]["tstamp"])
    with wave.open(str(tmp_path / "half.wav")) as w:
        assert w.getnframes() == round(half.duration * audio.WAV_RATE)


def test_count_in_is_a_bar_of_ticks_on_the_drum_channel():
    plain, counted = here(REEL, swing=0), here(REEL, swing=0, count_in=True)
    _, notes, tpq = midi_programs_and_notes(counted.midi)
    ticks = [t for t, ch, _ in notes if ch == 9]
    assert ticks == [0, tpq, 2 * tpq, 3 * tpq]
    first = min(t for t, ch, _ in notes if ch == 0)
    assert first == 4 * tpq
    assert counted.timemap[0]["tstamp"] == pytest.approx(plain.timemap[0]["tstamp"] + 2000)  # 4 beats at 120


def test_bad_choices_are_refused_naming_the_field():
    for choices, field in ((dict(instrument="kazoo"), "instrument"), (dict(swing=1.5), "swing"),
                           (dict(swing="lots"), "swing"), (dict(speed=0.2), "speed"), (dict(speed=1.5), "speed"),
                           (dict(transpose="H"), "transpose"), (dict(loop="1-x"), "loop"),
                           (dict(loop="9-2"), "loop")):
        with pytest.raises(FieldError) as caught:
            Playing(**choices).checked()
        assert caught.value.field == field
    assert Playing(loop="part b", transpose="bb", speed="0.75").checked() == \
        Playing(loop="B", transpose="Bb", speed=0.75)


# --------------------------------------------------------------------------- transposition


@pytest.mark.slow
def test_transpose_rewrites_the_tune_in_the_new_key(tmp_path, capsys):
    if not shutil.which("abc2abc") or not shutil.which("abc2midi"):
        pytest.skip("abcmidi is not installed: apt-get install abcmidi")
    tune = tmp_path / "tune.abc"
    tune.write_text(REEL)
    assert convert.main([str(tune), "--out", str(tmp_path / "d")]) == 0
    assert convert.main([str(tune), "--out", str(tmp_path / "g"), "--transpose", "G"]) == 0
    capsys.readouterr()
    abc = (tmp_path / "g" / "tune.abc").read_text()
    assert "\nK:G\n" in abc and '"C"' in abc  # the key and the chord symbols
    checked = subprocess.run(["abc2midi", str(tmp_path / "g" / "tune.abc"), "-o", str(tmp_path / "g.mid")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "Error" not in checked.stdout + checked.stderr
    before = [p for _, ch, p in midi_programs_and_notes((tmp_path / "d" / "tune.mid").read_bytes())[1] if ch == 0]
    after = [p for _, ch, p in midi_programs_and_notes((tmp_path / "g" / "tune.mid").read_bytes())[1] if ch == 0]
    assert len(before) == len(after) and {b - a for a, b in zip(before, after)} in ({5}, {-7})


def test_transpose_goes_the_way_the_instrument_can_play():
    if not shutil.which("abc2abc"):
        pytest.skip("abcmidi is not installed: apt-get install abcmidi")
    low_d = "X:1\nT:Low D\nM:4/4\nL:1/8\nK:D\nDEFG ABcd|d8|]\n"
    melody = lambda r: [p for _, ch, p in midi_programs_and_notes(r.midi)[1] if ch == 0]  # noqa: E731
    plain = melody(here(low_d, instrument="fiddle", swing=0))
    fiddle = here(low_d, instrument="fiddle", swing=0, transpose="A")  # down a fourth: still on the fiddle
    assert [p + 5 for p in melody(fiddle)] == plain and fiddle.warnings == [] and "\nK:A\n" in fiddle.abc
    whistle = here(low_d, instrument="tin whistle", swing=0, transpose="A")  # the whistle's A is up a fifth
    assert [p - 7 - 12 for p in melody(whistle)] == plain and whistle.warnings == []


def test_transpose_refuses_another_mode_and_keeps_the_key_when_asked_for_it():
    assert here(REEL, transpose="D").abc == REEL
    with pytest.raises(RenderError, match="Transpose"):
        here(REEL, transpose="Em")


def test_the_page_names_the_sound_and_says_when_there_is_no_soundfont():
    from abcgen.web import sound

    rendered = jobs.Rendered("", [], [], b"", None, 1.0, 120.0, abc=REEL, sound="MuseScore_General_Lite.sf3",
                             playing=Playing(instrument="flute", speed=0.75, loop="A", transpose="G"))
    assert sound.player_label(rendered) == ("Listen: flute (soundfont MuseScore_General_Lite.sf3), 75% speed, "
                                            "looping part A, in G")
    assert sound.notes(rendered) == []
    rendered.sound, rendered.warnings = audio.BUILT_IN, ["1 note goes below the flute's range"]
    assert "built-in synthesizer" in sound.player_label(rendered)
    assert "No soundfont is installed" in sound.notes(rendered)[0] and len(sound.notes(rendered)) == 2
    with pytest.raises(FieldError, match="^swing"):
        sound.playing("flute", "lots", "", "", 1.0, False)


# --------------------------------------------------------------------------- any choice, any tune

ODD_TUNES = [
    HORNPIPE,
    "X:1\nT:Pickup\nM:6/8\nL:1/8\nK:Ador\nA|:~B3 {c}BAG|E2A A2B:|\n|:c2d e2f|[1g3 a2g:|[2g3 g2||\n",
    "X:1\nT:Voices\nM:4/4\nL:1/8\nK:G\nV:1\nGABc ~d2B2|]\nV:2\nG,2D2 G,4|]\n",
    "X:1\nT:No bars\nM:3/4\nL:1/4\nK:F\n~A B c\n",
    "X:1\nT:Free\nM:none\nL:1/8\nK:Dmix\n(3ABc d2 ~e2|f4|]\n",
    "X:1\nT:Cut\nM:C|\nL:1/8\nQ:1/2=90\nK:Bb\n\"Bb\"B2dB \"F\"cAFA|\"Bb\"B4 z4|]\n",
]


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tune=st.sampled_from(ODD_TUNES), player=st.sampled_from(list(INSTRUMENTS)),
       swing=st.one_of(st.none(), st.floats(0, 1)), loop=st.sampled_from(["", "A", "B", "C", "1-2", "0-3", "7-9"]),
       transpose=st.sampled_from(["", "G", "C#", "Bb", "Em", "Edor", "Ador"]), speed=st.floats(0.5, 1),
       count_in=st.booleans())
def test_any_choices_on_odd_tunes_give_sound_or_a_message(tmp_path, tune, player, swing, loop, transpose, speed,
                                                          count_in):
    if transpose and not shutil.which("abc2abc"):
        transpose = ""
    try:
        rendered = here(tune, tmp_path / "any.wav", instrument=player, swing=swing, loop=loop,
                        transpose=transpose, speed=speed, count_in=count_in)
    except RenderError as exc:
        assert str(exc).startswith(("Loop:", "Transpose:")), exc
    else:
        assert rendered.midi[:4] == b"MThd" and rendered.duration > 0
        assert (tmp_path / "any.wav").stat().st_size > 44
