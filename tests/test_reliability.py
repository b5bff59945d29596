"""Reliability and safety: crash-safe checkpoints, safe loading, and the running app's file route,
download cleanup and flagging.

The app runs as `python app.py` would, in a subprocess on a free loopback port, on the shipped
checkpoint when it exists (ABCGEN_CHECKPOINT, if set, wins), else on conftest's tiny one. The sweep
test starts one whose file cache is swept every 2 s (files older than 6 s), so cleanup can be
watched within a test; the other tests share conftest's plain app.
"""
from __future__ import annotations

import http.client
import io
import os
import signal
import subprocess
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import torch

from abcgen.learn import checkpoint
from abcgen.errors import CheckpointError
from abcgen.learn.model import CharLSTM, ModelConfig
from abcgen.learn.vocab import Vocab
from benchmarks.serving import Served, running_app
from conftest import PYTHON, ROOT, app_checkpoint, wait_for

SWEEP = (2, 6)          # seconds: how often the cache is swept, and the age of files it deletes


# ------------------------------------------------------------------------------------------------
# checkpoints: an interrupted write never replaces a good file

def small_model(seed: int) -> tuple[CharLSTM, Vocab]:
    torch.manual_seed(seed)
    vocab = Vocab(list("\nABCDEFGabcdefg|:/2 XKLM"))
    return CharLSTM(ModelConfig(len(vocab), embedding_dim=8, hidden_size=32, num_layers=1)), vocab


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("failure", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_write_interrupted_half_way_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch, failure):
    path = tmp_path / "best.pt"
    good, vocab = small_model(1)
    checkpoint.save(path, good, vocab, metrics={"step": 1})
    before = path.read_bytes()

    real_save = torch.save

    def save_half_then_fail(obj, f, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        f.write(data[: len(data) // 2])      # half a checkpoint reaches the disk...
        f.flush()
        raise failure                        # ...then the disk fills up, or the user presses Ctrl-C

    newer, _ = small_model(2)
    monkeypatch.setattr(checkpoint.torch, "save", save_half_then_fail)
    with pytest.raises(type(failure)):
        checkpoint.save(path, newer, vocab, metrics={"step": 2})
    monkeypatch.undo()

    assert path.read_bytes() == before
    model, _, payload = checkpoint.load(path)
    assert payload["metrics"] == {"step": 1}
    assert same_weights(model.state_dict(), good.state_dict())
    # The next save goes through, over whatever the failed one left behind.
    checkpoint.save(path, newer, vocab, metrics={"step": 3})
    model, _, payload = checkpoint.load(path)
    assert payload["metrics"] == {"step": 3} and same_weights(model.state_dict(), newer.state_dict())


SAVER = """
import sys
import torch
from abcgen.learn import checkpoint
from abcgen.learn.model import CharLSTM, ModelConfig
from abcgen.learn.vocab import Vocab
torch.manual_seed(0)
vocab = Vocab(list("abc"))
model = CharLSTM(ModelConfig(len(vocab), embedding_dim=16, hidden_size=256, num_layers=2))
step = 0
while True:
    with torch.no_grad():                 # each save holds weights that say which save it is
        for p in model.parameters():
            p.fill_(step)
    checkpoint.save(sys.argv[1], model, vocab, metrics={"step": step})
    print("saved", step, flush=True)
    step += 1
"""


@pytest.mark.slow
@pytest.mark.parametrize("saves", [1, 2, 5])
def test_sigkill_during_saves_never_leaves_a_broken_checkpoint(tmp_path, saves):
    """A process that saves over and over is killed during a later save: the file loads, and its
    weights and metrics are those of one whole save, at least the last one reported done."""
    path = tmp_path / "latest.pt"
    proc = subprocess.Popen([PYTHON, "-c", SAVER, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    try:
        for k in range(saves):
            assert proc.stdout.readline().split() == [b"saved", str(k).encode()]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    model, _, payload = checkpoint.load(path)
    step = payload["metrics"]["step"]
    assert step >= saves - 1
    assert all(bool((p == step).all()) for p in model.state_dict().values())
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".pt"] == ["latest.pt"]


# ------------------------------------------------------------------------------------------------
# checkpoints: code hidden in a pickle is refused

class Payload:
    """Unpickling this would create the marker file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def legit_payload() -> dict:
    model, vocab = small_model(0)
    return {"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "model": model.state_dict(),
            "model_config": model.config.to_dict(), "vocab": vocab.to_list(), "versions": checkpoint.versions()}


@pytest.mark.parametrize("where", ["model weights", "nested list", "vocab", "metrics", "top level"])
def test_a_pickle_carrying_code_anywhere_in_a_checkpoint_is_refused(tmp_path, where):
    marker = tmp_path / "code-ran"
    payload = legit_payload()
    evil = Payload(marker)
    if where == "model weights":
        payload["model"]["lstm.extra"] = evil
    elif where == "nested list":
        payload["metrics"] = {"history": [1, 2, {"deep": [evil]}]}
    elif where == "vocab":
        payload["vocab"] = payload["vocab"] + [evil]
    elif where == "metrics":
        payload["metrics"] = evil
    else:
        payload = evil
    torch.save(payload, tmp_path / "evil.pt")
    # Sanity: an unrestricted load really would run the code.
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()
    marker.unlink()

    with pytest.raises(CheckpointError, match="refused"):
        checkpoint.load(tmp_path / "evil.pt")
    from abcgen.sampling.sample import load_sampler
    with pytest.raises(CheckpointError, match="refused"):
        load_sampler(tmp_path / "evil.pt")
    assert not marker.exists()


def test_generate_cli_refuses_a_checkpoint_carrying_code(tmp_path):
    marker = tmp_path / "code-ran"
    payload = legit_payload()
    payload["metrics"] = {"x": Payload(marker)}
    torch.save(payload, tmp_path / "evil.pt")
    done = subprocess.run([PYTHON, "-m", "abcgen.generate", "--checkpoint", str(tmp_path / "evil.pt")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "refused" in done.stderr and "Traceback" not in done.stderr
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------
# the running app

def raw_get(app: Served, route: str, method: str = "GET") -> tuple[int, bytes]:
    """A request with the path sent exactly as written ('..' and all), as an attacker would."""
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    try:
        conn.request(method, route)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def client_of(app: Served):
    from gradio_client import Client
    return Client(app.url, verbose=False, download_files=False, analytics_enabled=False)


# The plain app is conftest's shared one; the sweep test needs one of its own, started the way
# `python app.py` starts it but with a short cache sweep, so cleanup can be watched within a test.
LAUNCH = ("import os, app; os.environ.update(ABCGEN_SWEEP_S='%s', ABCGEN_FILES_MAX_AGE_S='%s'); app.main()"
          % SWEEP)


@pytest.fixture
def sweeping_app(request, tmp_path):
    checkpoint_path = app_checkpoint(request)
    with running_app(checkpoint_path, tmp_path, code=LAUNCH) as served:
        yield served


def compose(client, seed: int) -> tuple:
    return client.predict(meter="6/8", key="D", unit="1/8", title="Reliable Jig", opening="A|dAF DFA|",
                          temperature=1.0, seed=seed, max_chars=200, api_name="/compose")


# -- the file route ------------------------------------------------------------------------------

def secrets_of(app: Served) -> dict[str, tuple[Path, bytes]]:
    """Files the app must never hand out, each with bytes that would show it was handed out."""
    neighbour = app.workdir / "neighbour-secret.txt"     # beside the cache folder, not in it
    neighbour.write_text("neighbour secret 7f3a9c\n")
    ckpt = app.checkpoint.read_bytes()
    middle = len(ckpt) // 2
    return {
        "passwd": (Path("/etc/passwd"), b"root:"),
        "app source": (ROOT / "app.py", b"def build("),
        "library source": (ROOT / "abcgen" / "sampling" / "sample.py", b"class Sampler"),
        "checkpoint": (app.checkpoint, ckpt[middle:middle + 64]),   # weights, not the zip header
        "neighbour": (neighbour, b"neighbour secret 7f3a9c"),
    }


def spellings(path: Path, app: Served) -> list[str]:
    """Ways to name one file: plain, relative, climbing out of the cache, and URL-encoded (once and twice)."""
    absolute = str(path)
    bare = absolute.lstrip("/")
    climb = "../" * 12 + bare
    from_cache = f"{app.cache}/tunes/{climb}"
    relative = os.path.relpath(path, app.workdir)
    once = lambda s: quote(s, safe="")                        # noqa: E731
    dots = lambda s: s.replace(".", "%2e").replace("/", "%2f")  # noqa: E731
    return [
        absolute, "/" + absolute, absolute.replace("/", "//"), bare, relative, climb, from_cache,
        f"/tmp/../{bare}", "..\\" * 12 + bare.replace("/", "\\"), absolute + "%00.wav",
        once(absolute), once(climb), once(from_cache), dots(climb), dots(from_cache),
        once(once(absolute)), once(once(climb)), once(dots(climb)), "%252e%252e%252f" * 12 + once(bare),
        "%2e%2e/" * 12 + bare, "..%2f" * 12 + bare, ".%2e/" * 12 + bare, "%c0%ae%c0%ae/" * 12 + bare,
    ]


ROUTES = ["/gradio_api/file=", "/file=", "/gradio_api/file/", "/static/", "/assets/", "/svelte/",
          "/gradio_api/static/"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["passwd", "app source", "library source", "checkpoint", "neighbour"])
def test_file_routes_refuse_everything_but_the_apps_output(plain_app, name):
    app = plain_app
    path, tell = secrets_of(app)[name]
    assert path.exists() and tell in path.read_bytes()     # the marker really identifies the file
    served = []
    for route in ROUTES:
        for spelling in spellings(path, app):
            for method in ("GET", "HEAD"):
                status, body = raw_get(app, route + spelling, method)
                refused = (400, 403, 404, 405) if method == "HEAD" else (400, 403, 404)
                if status not in refused or tell in body:
                    served.append(f"{method} {route}{spelling} -> {status}")
    assert not served, "\n".join(served)


@pytest.mark.slow
def test_file_route_hands_out_the_apps_own_output(plain_app):
    """The control for the test above: the files a request made are served, whole."""
    result = compose(client_of(plain_app), seed=1)
    midi = result[1]
    status, body = raw_get(plain_app, midi["url"].removeprefix(plain_app.url))
    assert status == 200 and body[:4] == b"MThd"
    assert body == Path(midi["path"]).read_bytes()


# -- downloads are cleaned up ----------------------------------------------------------------------

def cache_contents(cache: Path) -> tuple[list[Path], list[Path]]:
    """Files and folders the app wrote under its cache, its store's own lock file left out."""
    from abcgen.render.files import LOCK_NAME
    entries = [p for p in cache.rglob("*") if p.name != LOCK_NAME] if cache.exists() else []
    return [p for p in entries if p.is_file()], [p for p in entries if p.is_dir()]


@pytest.mark.slow
def test_download_files_are_swept_and_the_cache_stays_bounded(sweeping_app):
    app, client = sweeping_app, client_of(sweeping_app)
    rounds, per_round = 3, 2
    compose(client, seed=99)                               # the cache folders exist from here on
    folders_before = len(cache_contents(app.cache)[1])
    files_after, folders_after = [], []
    for r in range(rounds):
        for i in range(per_round):
            result = compose(client, seed=100 + r * per_round + i)
            assert Path(result[1]["path"]).is_relative_to(app.cache)
        assert len(cache_contents(app.cache)[0]) >= 5      # this round's files are there to be fetched
        wait_for(lambda: not cache_contents(app.cache)[0], 300, "the sweep of old files")
        files, folders = cache_contents(app.cache)
        files_after.append(len(files))
        folders_after.append(len(folders))
    # Nothing a finished request wrote outlives the sweep, and the folders its files were in go too,
    # at the latest a round later: at most the last two rounds' folders are left, however many ran.
    assert files_after == [0] * rounds, files_after
    assert folders_after[-1] <= folders_before + 2 * per_round, (
        f"folders pile up: {folders_before} before, then {folders_after} after each round of {per_round} requests")


# -- flagging is off -------------------------------------------------------------------------------

def test_flagging_is_off(plain_app):
    app = plain_app
    config = httpx.get(app.url + "/config", timeout=30).json()
    labels = [str(c.get("props", {}).get("value", "")) + " " + str(c.get("props", {}).get("label", ""))
              for c in config["components"]]
    assert not [label for label in labels if "flag" in label.lower()]
    api_names = [str(d.get("api_name")) for d in config["dependencies"]]
    assert "compose" in api_names                   # the control: the config does list the app's events
    assert not [name for name in api_names if "flag" in name.lower()]
    compose(client_of(app), seed=2)
    written = [p for p in app.workdir.rglob("*") if "flag" in p.name.lower()]
    assert written == []
