"""Every request is bounded: playing time, field values, written length, time per call, fair turns,
and the command lines' refusals. Driven by the hostile inputs of benchmarks/hostile_requests.py.

No test here times anything: each checks that the bound answers with its own message (a bound that
went missing would show up as a different message, a timeout or a crash).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import tracemalloc
import wave
from types import SimpleNamespace

import pytest
import torch

from abcgen import generate
from abcgen.render import audio
from abcgen.learn import checkpoint
from abcgen.render import notation
from abcgen.render import soundfont
from abcgen.render import outputs as render
from abcgen.render import worker
from abcgen.errors import CheckpointError, RenderError
from abcgen.learn.model import CharLSTM, ModelConfig
from abcgen.learn.vocab import Vocab
from benchmarks.hostile_requests import HOSTILE
from conftest import PYTHON, ROOT, wait_for

SHORT = "X:1\nT:Short\nM:4/4\nL:1/8\nQ:1/4=120\nK:D\nDEFG ABcd|e2d2 c2B2|]\n"


def render_tune(abc: str, **options):
    return render.render(abc, **{"timeout": 120, **options})


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


# --- playing time and audio --------------------------------------------------------------------------


@pytest.mark.parametrize("name, minutes", [("C400| at L:1/1 Q:1/4=20", 80), ("80 bars of C8| at L:1/1 Q:1/4=20", 128)])
def test_a_tune_that_plays_for_hours_is_refused_before_any_audio(name, minutes):
    folder = render._new_wav_path().parent
    before = set(folder.iterdir())
    with pytest.raises(RenderError, match=f"plays for {minutes} minutes at Q:1/4=20; the limit is 10 minutes"):
        render_tune(HOSTILE[name])
    assert set(folder.iterdir()) == before  # no WAV, not even half of one


def test_the_notes_as_written_refuse_a_long_tune_before_its_score_is_built(monkeypatch):
    monkeypatch.setattr(notation, "build_score", lambda handler: pytest.fail("built the score"))
    with pytest.raises(RenderError, match="plays for 80 minutes"):
        render.render_here(HOSTILE["C400| at L:1/1 Q:1/4=20"], None, None)


def test_voices_sound_together_so_their_lengths_do_not_add_up(monkeypatch):
    def built(handler):
        raise RenderError("passed the written-length check")

    monkeypatch.setattr(notation, "build_score", built)
    two_voices = "X:1\nM:4/4\nL:1/1\nQ:1/4=60\nK:C\nV:1\nC100|\nV:2\nE100|\n"  # 400 s each, together
    with pytest.raises(RenderError, match="passed the written-length check"):
        render.render_here(two_voices, None, None)
    with pytest.raises(RenderError, match="plays for 13 minutes"):
        render.render_here(two_voices.replace("E100", "E100 G100"), None, None)


def test_the_limit_follows_the_tempo_asked_for():
    with pytest.raises(RenderError, match="at 40 quarter notes a minute"):
        render_tune(HOSTILE["C400| at L:1/1 Q:1/4=20"], bpm=40)  # still 40 minutes
    assert render_tune(HOSTILE["C400| at L:1/1 Q:1/4=20"], bpm=600, wav=False).duration == pytest.approx(
        1600 / 10 + audio.RELEASE_S)  # 2 minutes 40 at the fastest tempo


def long_note(seconds: float) -> list[audio.NoteEvent]:
    return [audio.NoteEvent(0.0, seconds, 69, 90, 0), audio.NoteEvent(seconds / 3, 1.0, 50, 60, 1)]


def test_wav_synthesis_memory_is_that_of_a_chunk_not_of_the_tune(tmp_path):
    minutes = 5  # a whole signal in float64 would take 53 MB
    tracemalloc.start()
    audio.write_wav(long_note(minutes * 60.0), tmp_path / "long.wav")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * audio.WAV_CHUNK * 8  # some chunk-sized arrays at a time (the whole: 5x more)
    with wave.open(str(tmp_path / "long.wav")) as w:
        assert w.getnframes() == round((minutes * 60 + audio.RELEASE_S) * audio.WAV_RATE)


def test_wav_chunks_join_without_a_seam(tmp_path, monkeypatch):
    monkeypatch.setattr(soundfont, "player", lambda rate: None)  # the built-in synthesizer's chunks
    events = long_note(4.0) + [audio.NoteEvent(1.5, 0.25, 76, 100, 0)]
    audio.write_wav(events, tmp_path / "big.wav")
    monkeypatch.setattr(audio, "WAV_CHUNK", 1000)  # notes now cross many chunk boundaries
    audio.write_wav(events, tmp_path / "small.wav")
    assert (tmp_path / "big.wav").read_bytes() == (tmp_path / "small.wav").read_bytes()


def test_the_wav_file_lives_as_long_as_the_rendered_tune(tmp_path):
    rendered = render_tune(SHORT)
    path = rendered.wav_path
    assert rendered.wav[:4] == b"RIFF"
    paths = render.write_files(rendered, SHORT, tmp_path, "short")
    assert paths["wav"].read_bytes() == rendered.wav
    del rendered
    assert not os.path.exists(path)
    assert render_tune(SHORT, wav=False).wav_path is None


# --- meters, units, tempos, tuplets, length: refused before music21 builds anything ----------------


@pytest.mark.parametrize("name, field", [("M:1000/1, 2,000 characters", "M:1000/1"),
                                         ("M:777/1, 2,000 characters", "M:777/1")])
def test_huge_meters_are_refused_within_a_short_bound(name, field):
    # music21 alone takes about a minute over M:1000/1: a 20 s bound would run out first, with another message
    with pytest.raises(RenderError, match=f"The meter {field} on line 3 cannot be converted: .* at most 32"):
        render.render(HOSTILE[name], timeout=20)
    report = render.check(HOSTILE[name], timeout=20)
    assert not report.valid and field in report.problems[0].message


@pytest.mark.parametrize("tune, message", [
    ("X:1\nM:64/1\nL:1/8\nK:C\nC|\n", "meter M:64/1 on line 2"),
    ("X:1\nM:3/5\nL:1/8\nK:C\nC|\n", "meter M:3/5 on line 2"),
    ("X:1\nM:4/4\nL:1/8\nK:C\nCD|[M:500/1]C|\n", "meter M:500/1 on line 5"),
    ("X:1\nM:4/4\nL:1/3\nK:C\nC|\n", "unit note length L:1/3 on line 3"),
    ("X:1\nM:4/4\nL:1/128\nK:C\nC|\n", "unit note length L:1/128"),
    ("X:1\nM:4/4\nL:1/8\nQ:1/4=1000\nK:C\nC|\n", "tempo Q:1/4=1000 on line 4"),
    ("X:1\nM:4/4\nL:1/8\nQ:1/4=0\nK:C\nC|\n", "tempo Q:1/4=0"),
    ("X:1\nM:4/4\nL:1/8\nQ:1000/4=60\nK:C\nC|\n", "tempo Q:1000/4=60"),
    ("X:1\nM:4/4\nL:1/8\nK:C\nCD (17CDEFGABcdefgabc'|\n", "tuplet (17 on line 5"),
    ("X:1\nM:4/4\nL:1/8\nK:C\nCD (3:99:3CDE|\n", "tuplet (3:99:3"),
    ("X:1\nM:4/4\nL:1/8\nK:C\nC99999999 GABc|\n", "notes add up to about 12,500,000 bars"),
    ("X:1\nM:4/4\nL:1/8\nK:C\n" + "CDEF GABc|" * 1001 + "\n", "notes add up to about 1,001 bars"),
])
def test_values_music_does_not_use_are_refused_by_name_and_line(tune, message):
    with pytest.raises(RenderError, match=message.replace("(", r"\(")):
        notation.parse_score(tune)


@pytest.mark.parametrize("tune", [
    "X:1\nT:Reel (1780)\nM:4/4\nL:1/8\nK:C\nCDEF GABc|\n",  # a year in the title is no tuplet
    'X:1\nM:4/4\nL:1/8\nK:C\n"^(1780"CDEF GABc|\nw:(17 words\n',
    "X:1\nM:4/4\nL:1/8\nQ:1/4 3/8 1/4 3/8=40\nK:C\nCDEF GABc|\n",  # a beat of several note values
    'X:1\nM:2+3+2/8\nL:1/16\nQ:"Allegro" 3/8=100\nK:C\n(3CDE (5:4:5CDEFG z4 z|\n',
    "X:1\nM:32/1\nL:1/64\nK:C\nC|\n",
])
def test_values_music_uses_pass(tune):
    assert notation.parse_score(tune).recurse().notes


# --- one time bound per call, fair turns, busy or dead workers -----------------------------------------


class StubWorker:
    def usable(self):
        return True


def stub_pool(monkeypatch, size: int) -> worker.Pool:
    pool = worker.Pool(size)
    pool.idle = [StubWorker() for _ in range(size)]
    monkeypatch.setattr(worker, "_pool", pool)
    return pool


def test_a_client_holds_at_most_one_worker_and_others_get_the_rest(monkeypatch):
    pool = stub_pool(monkeypatch, 2)
    held = pool.acquire("a", time.monotonic() + 1, 1)
    with pytest.raises(RenderError, match="renderer is busy.*no converter was free within 0.2 s"):
        pool.acquire("a", time.monotonic() + 0.2, 0.2)  # a worker is idle, but not for client a
    other = pool.acquire("b", time.monotonic() + 1, 1)
    pool.release(held, "a", True)
    pool.release(other, "b", True)
    assert len(pool.idle) == 2 and not pool.held


def test_waiting_callers_are_served_first_come_first_served(monkeypatch):
    pool = stub_pool(monkeypatch, 1)
    first = pool.acquire("a", time.monotonic() + 1, 1)
    served = []

    def wait(client):
        w = pool.acquire(client, time.monotonic() + 60, 60)
        served.append(client)
        pool.release(w, client, True)

    threads = []
    for client in ("b", "c", "d", None):
        threads.append(threading.Thread(target=wait, args=(client,)))
        threads[-1].start()
        wait_for(lambda: len(pool.waiting) == len(threads), 60, f"caller {client!r} queueing")
    pool.release(first, "a", True)
    for thread in threads:
        thread.join(60)
    assert served == ["b", "c", "d", None]


def test_a_busy_renderer_is_not_blamed_on_the_tune(monkeypatch):
    pool = stub_pool(monkeypatch, 1)
    pool.acquire("someone else", time.monotonic() + 1, 1)
    with pytest.raises(RenderError, match="renderer is busy; try again in a few seconds") as e:
        render.render(SHORT, timeout=0.3, client="me")
    assert "tune took" not in str(e.value)


def test_a_tune_that_runs_out_of_time_is_named_as_the_cause():
    render.warm_up()
    with pytest.raises(RenderError, match="This tune took longer than 3 s to convert"):
        render.render(HOSTILE["legal 20,000-character tune"], timeout=3, wav=False)


@pytest.mark.parametrize("bpm", [float("nan"), -5, 10_000, "fast"])
def test_a_tempo_out_of_range_is_refused_without_a_worker(bpm, monkeypatch):
    monkeypatch.setattr(worker, "call", None)  # any use of a worker would fail differently
    with pytest.raises(RenderError, match="tempo must be between 20 and 600"):
        render.render(SHORT, bpm=bpm)


def test_a_text_longer_than_any_tune_is_refused_without_a_worker(monkeypatch):
    monkeypatch.setattr(worker, "call", None)
    with pytest.raises(RenderError, match="at most 100,000"):
        render.render(SHORT * 3000)


# --- command lines ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["M:1000/1, 2,000 characters", "M:777/1, 2,000 characters"])
def test_convert_cli_ends_with_a_clear_message_on_huge_meters(tmp_path, name):
    tune = tmp_path / "hostile.abc"
    tune.write_text(HOSTILE[name])
    done = cli("abcgen.convert", str(tune), "--out", str(tmp_path / "out"), "--timeout", "5")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"The meter {name.split(',')[0]} on line 3 cannot be converted" in done.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_convert_cli_refuses_a_fifo_or_a_device_at_once(tmp_path):
    fifo = tmp_path / "tunes.abc"
    os.mkfifo(fifo)  # opening it to read would wait for a writer for ever
    done = cli("abcgen.convert", str(fifo), "/dev/zero", "--out", str(tmp_path / "out"), timeout=120)
    assert done.returncode == 1
    assert f"{fifo}: is not a regular file" in done.stderr and "/dev/zero: is not a regular file" in done.stderr


def test_generate_refuses_an_out_path_that_is_a_file_before_sampling(tmp_path, monkeypatch, capsys):
    existing = tmp_path / "tunes.txt"
    existing.write_text("keep me")
    monkeypatch.setattr(generate, "load_sampler", lambda *_: pytest.fail("sampled before checking --out"))
    assert generate.main(["--out", str(existing), "--num", "2"]) == 2
    assert "tunes.txt exists and is not a folder" in capsys.readouterr().err
    assert existing.read_text() == "keep me"


@pytest.mark.parametrize("num", ["0", "101"])
def test_generate_refuses_a_number_of_tunes_out_of_range_before_loading_the_model(num, monkeypatch, capsys):
    monkeypatch.setattr(generate, "load_sampler", lambda *_: pytest.fail("loaded the model first"))
    assert generate.main(["--num", num]) == 2
    assert "error in num: must be between 1 and 100 tunes" in capsys.readouterr().err


def test_generate_writes_as_many_tunes_as_asked_in_batches_of_the_request_cap(monkeypatch, capsys):
    batches = []

    def compose(sampler, header, opening, form, settings, retries):
        batches.append((settings.num, settings.seed))
        return [SimpleNamespace(abc=f"X:{header.x}\nT:{len(batches)}.{i}\nK:D\nABc|\n", to_dict=dict,
                                report=SimpleNamespace(text=lambda: "OK")) for i in range(settings.num)]

    monkeypatch.setattr(generate, "load_sampler", lambda *_: None)
    monkeypatch.setattr(generate, "compose", compose)
    assert generate.main(["--num", "40", "--seed", "7"]) == 0
    assert [n for n, _ in batches] == [16, 16, 8]
    assert batches[0][1] == 7 and len({seed for _, seed in batches}) == 3
    book = capsys.readouterr().out
    assert [f"X:{i}" for i in range(1, 41)] == [line for line in book.splitlines() if line.startswith("X:")]


def test_evaluate_says_a_device_is_not_a_checkpoint_file():
    done = cli("abcgen.evaluate", "--checkpoint", "/dev/zero", "--data", "folk", timeout=300)
    assert done.returncode == 2 and "is not a regular checkpoint file" in done.stderr
    assert "does not exist" not in done.stderr


def shipped_like(tmp_path, **config) -> str:
    payload = checkpoint.read(checkpoint.SHIPPED)
    payload["model_config"] = {**payload["model_config"], **config}
    torch.save(payload, tmp_path / "model.pt")
    return str(tmp_path / "model.pt")


@pytest.mark.parametrize("config, message", [
    ({"hidden_size": 12000}, "hidden_size=12000"),
    ({"num_layers": 2**40}, "num_layers=1099511627776"),
    ({"vocab_size": 10**9}, "vocab_size=1000000000"),
    ({"embedding_dim": "wide"}, "embedding_dim='wide'"),
    ({"hidden_size": 4096, "num_layers": 3}, "parameters"),  # each size allowed, the whole too big
])
def test_an_absurd_model_size_is_refused_before_it_is_allocated(tmp_path, monkeypatch, config, message):
    built_on = []

    class Recording(checkpoint.CharLSTM):
        def __init__(self, config):
            built_on.append(torch.get_default_device().type)
            super().__init__(config)

    monkeypatch.setattr(checkpoint, "CharLSTM", Recording)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(shipped_like(tmp_path, **config))
    assert set(built_on) <= {"meta"}  # counted without storage, never built for real


def test_newer_size_keys_within_bounds_load(tmp_path):
    vocab = Vocab(list("\nABCDEFGabcdefg|:/2 XKLM"))
    config = ModelConfig(len(vocab), embedding_dim=8, hidden_size=32, num_layers=1, memory=1024, memory_dim=16)
    checkpoint.save(tmp_path / "memory.pt", CharLSTM(config), vocab)
    model, _, _ = checkpoint.load(tmp_path / "memory.pt")
    assert model.config == config
