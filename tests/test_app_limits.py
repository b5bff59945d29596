"""Bounds on every route, tested the way a client meets them: `python app.py` on loopback, driven by
real HTTP requests (httpx, gradio_client, the page's own queue protocol), plus the file store that
keeps handed-out files within a byte budget.
"""
import contextlib
import errno
import json
import os
import re
import secrets
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from abcgen.render import files
from benchmarks.serving import running_app
from conftest import ROOT, app_checkpoint, queue_event

HEAVY = {"meter": "6/8", "key": "D", "unit": "1/8", "num": 16, "max_chars": 300}
OPEN_TO_ONE_CLIENT = {"ABCGEN_PER_CLIENT": "100", "ABCGEN_PER_CLIENT_WORK": "100", "ABCGEN_RATE": "100",
                      "ABCGEN_BURST": "1000"}
TUNE = "X:1\nT:Limits\nM:6/8\nL:1/8\nK:D\n|:dAF DFA|dfe dcB|AFA dfa|gfe d3:|\n"


# --------------------------------------------------------------------------- the file store

def test_the_store_evicts_the_oldest_folders_to_stay_in_budget(tmp_path):
    store = files.Store(tmp_path / "root", budget=10_000, max_age_s=3600).open()
    made = []
    for i in range(6):
        with store.folder() as folder:
            made.append(store.write(folder, "f.bin", bytes(3000)))
        assert store.used() <= 10_000
        assert sum(p.stat().st_size for p in (tmp_path / "root").rglob("*") if p.is_file()) <= 10_000
    assert not made[0].exists() and not made[2].exists()   # oldest first
    assert made[-1].exists() and made[-2].exists()
    with pytest.raises(files.DiskFull, match="disk is full"), store.folder() as folder:
        store.write(folder, "huge.bin", bytes(20_000))           # more than the whole budget


def test_the_store_sweeps_old_folders(tmp_path):
    store = files.Store(tmp_path, budget=10**9, max_age_s=60).open()
    with store.folder() as folder:
        old = store.write(folder, "old.abc", b"X:1")
    (store.scratch / "in-use.tmp").write_bytes(b"x")   # a temporary file its maker still holds
    long_ago = time.time() - 3600                      # both older than the age, by their times on disk
    for path in (old, old.parent, store.scratch / "in-use.tmp"):
        os.utime(path, (long_ago, long_ago))
    store.sweep(rescan=True)
    assert not old.exists() and not old.parent.exists()
    assert (store.scratch / "in-use.tmp").exists()


def test_what_a_dead_run_left_is_removed_at_start_but_a_live_ones_is_not(tmp_path):
    import subprocess
    import sys
    root = tmp_path / "root"
    code = ("import sys; from abcgen.render import files; s = files.Store(sys.argv[1]).open()\n"
            "with s.folder() as f: s.write(f, 'left.mid', b'MThd')\nprint('ready', flush=True); sys.stdin.read()")
    live = subprocess.Popen([sys.executable, "-c", code, str(root)], stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                            text=True, env={"PYTHONPATH": str(ROOT)})   # it runs until it is killed
    try:
        assert live.stdout.readline().strip() == "ready"
        second = files.Store(root).open()      # the first run still holds the folder: hands off
        assert list(root.rglob("left.mid"))
        second.close()
    finally:
        live.kill()                            # a run that dies without cleaning up
        live.wait()
    third = files.Store(root).open()
    assert not list(root.rglob("left.mid"))
    third.close()


def test_a_full_disk_is_a_clear_error_and_leaves_no_half_files(tmp_path, monkeypatch):
    store = files.Store(tmp_path).open()
    real_open = open

    def filling_open(path, mode="r", *a, **k):
        f = real_open(path, mode, *a, **k)
        if "w" in mode or "x" in mode:
            write = f.write

            def write_half(data):
                write(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
            f.write = write_half
        return f

    monkeypatch.setattr(files, "open", filling_open, raising=False)
    with pytest.raises(files.DiskFull, match="disk is full"), store.folder() as folder:
        store.write(folder, "tune.mid", b"MThd" * 1000)
    assert [p for p in tmp_path.rglob("*") if p.name != files.LOCK_NAME and p != store.scratch] == []


def test_share_links_are_read_as_untrusted_input():
    from abcgen.web import share
    from abcgen.errors import FieldError
    settings = {"title": "A", "abc": TUNE, "seed": 3, "temperature": 0.9}
    assert share.unpack(share.pack(settings)) == settings
    assert share.unpack("") == {}
    bomb = share.PREFIX + share.base64.urlsafe_b64encode(share.zlib.compress(b"[" * 10_000_000)).decode()
    for damaged in (share.pack(settings)[:-9], share.PREFIX + "!!", bomb, share.PREFIX + "A" * 50_000, "#other"):
        with pytest.raises(FieldError, match="link"):
            share.unpack(damaged)
    history = [{"label": "x", "abc": "X:1\n" + "a" * 19_000}] * 40 + [{"label": 1, "abc": None}, "junk"]
    kept = share.clean_history(history)
    assert len(kept) <= share.MAX_HISTORY and sum(len(h["abc"]) for h in kept) <= share.MAX_HISTORY_CHARS


# --------------------------------------------------------------------------- helpers for the running app

# A store that can be switched to a full disk: while the file DISK_FULL exists in the app's working
# folder, every file the app writes fails as on a full disk (ENOSPC).
DISK_FULL = "disk-full"
SWITCHABLE_DISK = ("import errno, sys; from pathlib import Path; sys.argv = ['app.py']\n"
                   "import app\nfrom abcgen.render import files\nreal_write = files.write_bytes\n"
                   "def write(path, data):\n"
                   f"    if Path({DISK_FULL!r}).exists():\n"
                   "        raise OSError(errno.ENOSPC, 'No space left on device')\n"
                   "    real_write(path, data)\n"
                   "files.write_bytes = write\napp.main()\n")


@pytest.fixture(scope="module")
def small_store_app(request, tmp_path_factory):
    """Not the shared plain app: this one has a small file budget (3 MB), so eviction happens within a
    few composes, a disk that a test can fill (DISK_FULL), and every client's share of the queue wide
    open, since these tests send many requests from one address to meet the limits all clients share
    (the limits per client are tested in test_hostile_clients.py)."""
    work = tmp_path_factory.mktemp("app")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ABCGEN_FILES_MB", "3")
        for name, value in OPEN_TO_ONE_CLIENT.items():
            mp.setenv(name, value)
        with running_app(app_checkpoint(request), work, code=SWITCHABLE_DISK) as served:
            yield served.url, work


@pytest.fixture(scope="module")
def app(plain_app):
    """The shared plain app, as (url, working folder)."""
    return plain_app.url, plain_app.workdir


@contextlib.contextmanager
def client(url, tmp_path):
    """A gradio_client, closed afterwards (its heartbeat stream would hold the server open)."""
    from gradio_client import Client
    c = Client(url, verbose=False, download_files=str(tmp_path))
    try:
        yield c
    finally:
        c.close()


def page_call(url: str, elem_id: str, data: list, event: str = "click", timeout: float = 300) -> dict:
    """Trigger a page event the way the page does (join the queue, read the event stream); the last
    message: {"msg": "process_completed", "output": ..., "success": ...}."""
    config = httpx.get(url + "/config", timeout=10).json()
    ids = {c["props"].get("elem_id"): c["id"] for c in config["components"]}
    dep = next(d for d in config["dependencies"] if [ids[elem_id], event] in d["targets"])
    return queue_event(httpx, url, dep["id"], data, ids[elem_id], timeout)


def page_inputs(url: str, elem_id: str, values: dict) -> list:
    """The data for a page event whose inputs the page gathers by name (Compose): `values` by elem_id
    (the browser's history as "history"), the page's own initial values for the rest."""
    config = httpx.get(url + "/config", timeout=10).json()
    components = {c["id"]: c for c in config["components"]}
    ids = {c["props"].get("elem_id"): c["id"] for c in config["components"]}
    dep = next(d for d in config["dependencies"] if [ids[elem_id], "click"] in d["targets"])

    def name(i):
        return "history" if components[i]["type"] == "browserstate" else components[i]["props"].get("elem_id")
    return [values.get(name(i), components[i]["props"].get("value")) for i in dep["inputs"]]


def page_text(message: dict) -> str:
    return json.dumps(message.get("output", {}))


def cache_bytes(work: Path) -> int:
    return sum(p.stat().st_size for p in (work / "cache").rglob("*") if p.is_file())


# --------------------------------------------------------------------------- routes

def test_uploads_are_refused_and_nothing_reaches_the_disk(app):
    url, work = app
    marker = b"UPLOAD-MARKER-" + secrets.token_hex(8).encode()
    many = [("files", (f"f{i}.txt", marker)) for i in range(50)]
    assert httpx.post(url + "/gradio_api/upload", files=many, timeout=10).status_code == 403
    bad_name = [("files", ("../../evil.txt", marker)), ("files", ("ok.txt", marker))]
    assert httpx.post(url + "/gradio_api/upload", files=bad_name, timeout=10).status_code == 403
    # an upload that is abandoned half way
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                  b"boundary=b\r\nContent-Length: 1000000\r\n\r\n--b\r\nContent-Disposition: form-data; "
                  b'name="files"; filename="half.txt"\r\n\r\n' + marker * 100)
        s.shutdown(socket.SHUT_WR)             # the client is gone: wait for the server to say so
        while s.recv(65536):
            pass
    for path in (work / "cache").rglob("*"):
        assert not (path.is_file() and marker in path.read_bytes()), path


@pytest.mark.parametrize("route", ["/gradio_api/queue/join", "/gradio_api/call/compose"])
def test_large_bodies_are_refused(app, route):
    url, _ = app
    big = json.dumps({"data": ["6/8", "D", "1/8", "x" * 1_000_000], "fn_index": 0, "session_hash": "s"})
    sized = httpx.post(url + route, content=big, headers={"content-type": "application/json"}, timeout=30)
    assert sized.status_code == 413

    def chunks():  # no Content-Length: counted as it arrives
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536].encode()
    streamed = httpx.post(url + route, content=chunks(), headers={"content-type": "application/json"}, timeout=30)
    assert streamed.status_code == 413


def test_monitoring_and_queue_skipping_routes_are_closed(app):
    url, _ = app
    for route in ("/monitoring", "/monitoring/summary", "/gradio_api/monitoring/summary"):
        assert httpx.get(url + route, timeout=10).status_code in (403, 404), route
    direct = httpx.post(url + "/gradio_api/run/compose", timeout=30,
                        json={"data": ["6/8", "D", "1/8", "", "", 1.0, 0, 1, "", "", 0, 1.0, 300, 1]})
    # refused as a route: a 422 or a 500 would mean the call got through and only then failed
    assert direct.status_code in (403, 404), (direct.status_code, direct.text[:300])


@pytest.mark.slow
def test_every_sampling_route_shares_one_limit_of_two(small_store_app, tmp_path):
    """Two API composes, two page Composes and two Continues, 16 candidates each, all at once."""
    url, work = small_store_app
    log = work / "app.log"
    seen = len(log.read_text())
    api = dict(HEAVY, title="Concurrent")
    page = page_inputs(url, "compose", {"title": "Concurrent", "meter": "6/8", "unit": "1/8", "key": "D",
                                        "tempo": "3/8=116", "max-chars": 300, "num": 16, "history": []})
    cont = [TUNE, "", 1.0, 0, 0, 300, 16, [], None]   # abc, form, temperature, top_k, seed, max_chars, num, history, width
    errors = []

    def run(kind, i):
        try:
            if kind == "api":
                with client(url, tmp_path / f"c{i}") as c:
                    c.predict(**api, seed=i, api_name="/compose")
            else:
                message = page_call(url, "compose" if kind == "page" else "continue", page if kind == "page" else cont)
                assert message["success"], message
        except Exception as e:  # noqa: BLE001  (collected and shown below)
            errors.append(f"{kind}: {e}")

    threads = [threading.Thread(target=run, args=(kind, i))
               for i, kind in enumerate(["api", "page", "continue"] * 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors
    counts = [int(n) for n in re.findall(r"started, (\d+) running", log.read_text()[seen:])]
    assert len(counts) >= 6, counts
    assert max(counts) <= 2, counts


@pytest.mark.slow
def test_handed_out_files_stay_within_the_budget(small_store_app, tmp_path):
    url, work = small_store_app
    first = None
    with client(url, tmp_path) as c:
        for seed in range(8):
            abc, midi, *rest = c.predict(meter="6/8", key="D", unit="1/8", title=f"Budget {seed}", seed=seed,
                                         max_chars=400, api_name="/compose")
            assert abc.startswith("X:") and midi, rest[-1]
            first = first or next((work / "cache").rglob(f"budget-{seed}.mid"))
            assert cache_bytes(work) <= 3 * files.MB
    assert not first.exists()   # the oldest tune's files made room for the newest


def test_page_field_errors_say_which_field_and_how_to_fix_it(app):
    url, _ = app
    fields = {"meter": "6/8", "unit": "1/8", "key": "D", "max-chars": 300, "history": []}
    message = page_call(url, "compose", page_inputs(url, "compose", {**fields, "meter": "7/0"}))
    text = page_text(message)
    assert "M: meter" in text and "7/0" in text and "like 4/4" in text
    opening = page_call(url, "compose", page_inputs(url, "compose", {**fields, "opening": "A" * 5000}))
    assert "Opening" in page_text(opening) and "1000" in page_text(opening)


# --------------------------------------------------------------------------- a deadline, a full disk

@pytest.mark.slow
def test_one_deadline_bounds_queue_wait_and_work(request, tmp_path, monkeypatch):
    """With a 5 s deadline, four heavy requests (two at work, two waiting their turn) all end, the
    ones that ran or waited too long with a message saying so (how long they took is the load test's
    to measure: `benchmarks/load_test.py`). An app of its own: the shared one has the 60 s deadline."""
    monkeypatch.setenv("ABCGEN_REQUEST_SECONDS", "5")
    for name, value in OPEN_TO_ONE_CLIENT.items():
        monkeypatch.setenv(name, value)
    with running_app(app_checkpoint(request), tmp_path) as served:
        url = served.url
        with client(url, tmp_path / "warm") as c:
            c.predict(meter="6/8", key="D", unit="1/8", max_chars=100, api_name="/compose")
        results = {}

        def run(i):
            try:
                with client(url, tmp_path / f"c{i}") as c:
                    results[i] = c.predict(**dict(HEAVY, max_chars=3000), seed=i, api_name="/compose")[-1]
            except Exception as e:  # noqa: BLE001
                results[i] = str(e)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    assert len(results) == 4
    assert any("ran out of time" in text for text in results.values()), results
    assert not any("Traceback" in text for text in results.values())


@pytest.mark.slow
def test_a_full_disk_gives_a_clear_message(small_store_app, tmp_path):
    url, work = small_store_app
    (work / DISK_FULL).touch()
    try:
        with pytest.raises(Exception) as caught, client(url, tmp_path / "c") as c:
            c.predict(meter="6/8", key="D", unit="1/8", max_chars=200, api_name="/compose")
        assert "disk is full" in str(caught.value)
        rendered = page_call(url, "render", [TUNE, None])      # the tune, the sheet's width
        assert rendered["success"] and "disk is full" in page_text(rendered)
    finally:
        (work / DISK_FULL).unlink()
    with client(url, tmp_path / "after") as c:     # the control: with room again, the same compose has files
        abc, midi, *_ = c.predict(meter="6/8", key="D", unit="1/8", max_chars=200, api_name="/compose")
    assert abc.startswith("X:") and Path(midi).read_bytes()[:4] == b"MThd"


def test_the_play_handler_refuses_a_bad_sound_choice_by_name(app):
    """Play's hidden handler checks the Sound and practice values before any work, naming the control."""
    url, _ = app
    for data, label in (([TUNE, "flute", "", "", "x-y", 1.0, False, None], "Loop"),
                        ([TUNE, "flute", "lots", "", "", 1.0, False, None], "Swing"),
                        ([TUNE, "kazoo", "", "", "", 1.0, False, None], "Instrument"),
                        ([TUNE, "flute", "", "H#m7", "", 1.0, False, None], "Transpose to")):
        message = page_call(url, "play", data)
        assert message["success"] and f"<b>{label}</b>" in page_text(message), page_text(message)[:300]
