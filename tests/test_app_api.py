"""The app as a client sees it: `python app.py` in a subprocess (conftest's shared `plain_app`),
called over HTTP.

The app runs on the shipped checkpoint when it exists (ABCGEN_CHECKPOINT, if set, wins), else on
the tiny checkpoint trained by conftest. Its file route must hand out the app's own output files
and nothing else of the machine.
"""
import http.client
import json
import os
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from abcgen.sampling.asked import MAX_CANDIDATES, MAX_CHARS
from conftest import ROOT, app_checkpoint


@pytest.fixture(scope="module")
def app_url(plain_app):
    return plain_app.url


@pytest.fixture(scope="module")
def client(app_url, tmp_path_factory):
    from gradio_client import Client
    c = Client(app_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))
    yield c
    c.close()


def midi_notes(path: str) -> int:
    """How many notes a MIDI file starts, read with music21's low-level MIDI reader."""
    from music21 import midi
    mf = midi.MidiFile()
    mf.open(path)
    mf.read()
    mf.close()
    return sum(1 for track in mf.tracks for e in track.events if e.isNoteOn())


@pytest.mark.slow
def test_compose_returns_abc_then_files(client):
    result = client.predict(meter="6/8", key="D", unit="1/8", title="Client Jig", opening="A|dAF DFA|",
                            temperature=1.0, seed=3, api_name="/compose")
    abc, midi_file, abc_file, musicxml_file, wav_file, svg_file, report = result
    assert abc.startswith("X:1\nT:Client Jig\nM:6/8\nL:1/8\n")
    assert "\nK:D\n" in abc and "A|dAF DFA|" in abc
    midi = Path(midi_file).read_bytes()
    assert midi[:4] == b"MThd"
    assert midi_notes(midi_file) > 0
    assert Path(abc_file).read_text() == abc
    assert "score-partwise" in Path(musicxml_file).read_text()
    assert Path(wav_file).read_bytes()[:4] == b"RIFF"
    assert "<svg" in Path(svg_file).read_text()
    assert report.startswith(("Valid. ", "Not valid. ", "Every bar is the right length, but")) and "Key: K:D" in report, report  # both reports


@pytest.mark.slow
def test_compose_takes_the_optional_fields(client):
    abc, *_ = client.predict(meter="4/4", key="Ador", unit="1/8", title="", opening="", temperature=0.8,
                             seed=5, x=12, tempo="1/2=100", form="S:2 B:8 E:5 B:8", top_k=20, top_p=0.95,
                             max_chars=400, num=2, api_name="/compose")
    assert abc.startswith("X:12\nM:4/4\nL:1/8\nQ:1/2=100\nK:Ador\n")


@pytest.mark.slow
def test_compose_plays_the_instrument_and_key_asked_for(client):
    from music21 import midi
    abc, midi_file, abc_file, *_ = client.predict(
        meter="6/8", key="D", unit="1/8", title="Flute Jig", opening="A|dAF DFA|", seed=3, instrument="flute",
        swing=0.3, transpose="G", loop="", speed=0.75, count_in=True, api_name="/compose")
    assert "\nK:G\n" in abc and Path(abc_file).read_text() == abc  # transposed, and handed out so
    mf = midi.MidiFile()
    mf.open(midi_file)
    mf.read()
    mf.close()
    programs = [e.data for t in mf.tracks for e in t.events if e.type == midi.ChannelVoiceMessages.PROGRAM_CHANGE]
    assert programs[0] == 73


@pytest.mark.parametrize("fields, named", [
    ({"meter": "7/0"}, "meter"),
    ({"key": "Xyz"}, "key"),
    ({"unit": "1/3"}, "unit"),
    ({"tempo": "fast"}, "tempo"),
    ({"form": "S:99"}, "form"),
    ({"opening": "T:not music"}, "opening"),
    ({"opening": "A" * 5000}, "opening"),
    ({"title": "T" * 300}, "title"),
    ({"form": "AXBB"}, "form"),
    ({"num": MAX_CANDIDATES + 1}, "num"),
    ({"max_chars": MAX_CHARS + 1}, "max_chars"),
    ({"temperature": 9.0}, "temperature"),
    ({"instrument": "kazoo"}, "instrument"),
    ({"swing": 2.0}, "swing"),
    ({"speed": 0.1}, "speed"),
    ({"transpose": "H"}, "transpose"),
    ({"loop": "x-y"}, "loop"),
])
def test_bad_field_is_an_error_naming_it(client, fields, named):
    args = {"meter": "6/8", "key": "D", "unit": "1/8", "title": "Bad", **fields}
    with pytest.raises(Exception) as caught:
        client.predict(**args, api_name="/compose")
    message = str(caught.value)
    assert message.startswith(f"{named}:"), message
    assert "Traceback" not in message
    if len(str(fields.get("opening", ""))) > 1000:  # a long opening is refused, never silently cut
        assert "5000" in message and "1000" in message, message


def targets(checkpoint: Path) -> dict[str, Path]:
    return {"passwd": Path("/etc/passwd"), "app": ROOT / "app.py", "library": ROOT / "abcgen" / "sampling" / "sample.py",
            "checkpoint": checkpoint}


def spellings(path: Path) -> list[str]:
    """Ways to name one file in the file route: plain, relative, with '..', and URL-encoded."""
    relative = os.path.relpath(path, ROOT)
    climb = "/tmp/../" + str(path).lstrip("/")
    return [str(path), relative, climb, "../" * 8 + str(path).lstrip("/"),
            quote(str(path), safe=""), quote(climb, safe=""), quote(str(path), safe="").replace(".", "%2e")]


@pytest.mark.parametrize("name", ["passwd", "app", "library", "checkpoint"])
def test_file_route_refuses_files_outside_the_apps_output(plain_app, app_url, name):
    path = targets(plain_app.checkpoint)[name]
    assert path.exists()
    host, port = app_url.removeprefix("http://").split(":")
    for spelling in spellings(path):
        route = f"/gradio_api/file={spelling}"
        # httpx (like a browser) resolves '..' before sending, so the literal form goes through
        # http.client, which sends the path as written; the encoded forms go through httpx.
        if ".." in spelling:
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request("GET", route)
            status = conn.getresponse().status
            conn.close()
        else:
            status = httpx.get(app_url + route, timeout=10).status_code
        assert status in (403, 404), f"{route} answered {status}"


def test_page_scripts_are_inline_and_no_server_path_is_shown(app_url):
    """The page loads nothing from elsewhere and names no folder of the server."""
    config = httpx.get(app_url + "/config", timeout=10).json()
    assert "<script" in config["head"] and "playing" in config["head"]   # the note follower, inline
    assert 'src="' not in config["head"]
    page = httpx.get(app_url + "/", timeout=10).text + json.dumps(config)
    for path in (str(ROOT), "/etc/", "site-packages"):
        assert path not in page, path


def test_tune_types_and_examples_are_accepted_as_they_stand(request):
    import app
    from abcgen.abc.form import parse_form
    from abcgen.learn import checkpoint
    from abcgen.learn.vocab import Vocab
    from abcgen.request import Request
    from abcgen.sampling.asked import check_opening
    from abcgen.tune_types import TUNE_TYPES

    for kind in TUNE_TYPES.values():
        parse_form(kind.form)
        r = Request.read({"type": kind.name, "key": "D"})
        assert (r.header.meter, r.header.unit, r.header.tempo, r.header.kind) == (
            kind.meter, kind.unit, kind.tempo, kind.name)
    vocab = Vocab(checkpoint.read(app_checkpoint(request))["vocab"])     # the app's model's characters
    for example in app.EXAMPLES:
        _, title, meter, unit, key, tempo, opening, form = app.example_row(*example)
        Request.read({"title": title, "meter": meter, "unit": unit, "key": key, "tempo": tempo, "form": form})
        check_opening(opening, vocab)
