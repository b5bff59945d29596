"""The bounds a hostile client meets, part by part, with an injected clock where time matters:
connection caps, admission (files and URLs, rates, queue shares), the bounded log, the file store's
shares, session expiry, share links, and the command line's budgets. The same attacks on the running
app are in test_hostile_clients.py."""
import base64
import datetime
import json
import logging
import math
import signal
import subprocess
import sys
import threading
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from abcgen.errors import FieldError
from abcgen.render import files
from abcgen.web import admission, connections, logbook, serve, share
from conftest import ROOT


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


# --------------------------------------------------------------------------- connections

def test_the_gate_caps_connections_per_address_and_in_all():
    gate = connections.Gate(per_address=2, total=3, read_s=10)
    assert gate.admit("a") and gate.admit("a")
    assert not gate.admit("a")                 # a third from one address
    assert gate.admit("b")
    assert not gate.admit("c")                 # the fourth in all
    gate.release("a")
    assert gate.admit("c")
    assert dict(gate.open) == {"a": 1, "b": 1, "c": 1}


def test_a_trusted_proxy_is_held_only_to_the_total():
    gate = connections.Gate(per_address=1, total=3, read_s=10, exempt=["10.0.0.1"])
    assert all(gate.admit("10.0.0.1") for _ in range(3))
    assert not gate.admit("10.0.0.1")


def test_refused_connections_are_summarized_once_a_minute(caplog):
    clock = Clock()
    gate = connections.Gate(per_address=1, total=100, read_s=10, clock=clock)
    gate.admit("a")
    with caplog.at_level(logging.WARNING, logger="abcgen.web.connections"):
        for i in range(10_000):
            clock.now += 0.01                  # 100 seconds in all
            gate.admit("a")
    lines = [r for r in caplog.records if r.name == "abcgen.web.connections"]
    assert 1 <= len(lines) <= 3, len(lines)
    assert "refused" in lines[-1].getMessage() and "1 per address" in lines[-1].getMessage()


# --------------------------------------------------------------------------- admission

FILE = {"path": "http://127.0.0.1:9/big.bin", "meta": {"_type": "gradio.FileData"}}


@pytest.mark.parametrize("data", [
    [FILE], ["x", FILE], [[{"label": "a", "abc": "X:1"}, FILE]], [{"url": "http://127.0.0.1/"}],
    [{"path": "/etc/passwd"}], [[[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]]])
def test_a_file_or_url_anywhere_in_the_data_is_refused(data):
    assert admission.carries_file({"data": data, "fn_index": 1})


@pytest.mark.parametrize("data", [["6/8", "D", "http://example.org/ in a title", 1.0, None],
                                  [[{"label": "1 · jig", "abc": "X:1\nK:D\nabc|"}]]])
def test_plain_values_pass(data):
    assert not admission.carries_file({"data": data, "fn_index": 1, "session_hash": "s"})


def test_each_address_has_its_own_rate():
    clock = Clock()
    buckets = admission.Buckets(rate=2, burst=5, clock=clock)
    assert [buckets.take("a") for _ in range(6)] == [True] * 5 + [False]
    assert buckets.take("b")
    clock.now += 1.0                            # two more a second
    assert [buckets.take("a") for _ in range(3)] == [True, True, False]


def fake_blocks(queued: list[tuple[str, str]], running: list[tuple[str, str]]):
    """A page whose queue holds events (address, concurrency id), as the framework keeps them."""
    def event(address, kind):
        return SimpleNamespace(request=SimpleNamespace(client=SimpleNamespace(host=address)), concurrency_id=kind)
    queue = SimpleNamespace(event_queue_per_concurrency_id={"q": SimpleNamespace(queue=[event(*e) for e in queued])},
                            active_jobs=[[event(*e) for e in running], None])
    fns = {0: SimpleNamespace(concurrency_id="work", api_name="compose"),
           1: SimpleNamespace(concurrency_id="default", api_name="on_share")}
    return SimpleNamespace(_queue=queue, fns=fns)


def test_a_client_has_a_share_of_the_queue_counted_by_address():
    blocks = fake_blocks(queued=[("1.1.1.1", "work"), ("2.2.2.2", "work")], running=[("1.1.1.1", "work")])
    assert admission.queued_by(blocks, "1.1.1.1") == (2, 2)
    gate = admission.Admission(None, blocks, per_client=3, per_client_work=2, rate=100, burst=100)
    work = json.dumps({"data": [], "fn_index": 0, "session_hash": "new"}).encode()
    cheap = json.dumps({"data": [], "fn_index": 1, "session_hash": "new"}).encode()
    assert gate.problem("1.1.1.1", work)[0] == 429            # two works already
    assert gate.problem("1.1.1.1", cheap) is None             # a cheap event still fits
    assert gate.problem("2.2.2.2", work) is None              # another address is not held up
    gate.joining["1.1.1.1"] += 1                              # one more on its way in
    assert gate.problem("1.1.1.1", cheap)[0] == 429


# --------------------------------------------------------------------------- the log

def bounded_logger(clock, **bounds):
    stream = __import__("io").StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logbook.Bounded(clock=clock, **bounds))
    logger = logging.getLogger(f"test.bounded.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_a_long_value_is_cut_and_repeats_are_summarized():
    clock = Clock()
    logger, stream = bounded_logger(clock, max_chars=500, repeats=3, per_minute=10**9)
    logger.warning("Value: %s is not in the list of choices", "x" * 250_000)
    assert len(stream.getvalue()) < 1000 and "characters cut" in stream.getvalue()
    for _ in range(1000):
        logger.error("the same failure")
    assert stream.getvalue().count("the same failure") == 3
    clock.now += 61
    logger.error("something new")
    assert "lines left out in the last minute, 997 of them repeats" in stream.getvalue()


def test_the_log_has_a_byte_budget_a_minute():
    clock = Clock()
    logger, stream = bounded_logger(clock, max_chars=2000, repeats=10**9, per_minute=50_000)
    for i in range(100_000):
        logger.info("line %d with some words", i)
        clock.now += 0.0006                     # a minute in all
    assert len(stream.getvalue()) < 60_000


def test_a_traceback_printed_on_stderr_becomes_bounded_records():
    clock = Clock()
    logger, stream = bounded_logger(clock, max_chars=300, repeats=2, per_minute=10**9)
    out = logbook.ToLog(logger)
    for _ in range(500):
        try:
            raise ValueError("Value: " + "y" * 100_000)
        except ValueError:
            __import__("traceback").print_exc(file=out)
    assert len(stream.getvalue()) < 5_000


# --------------------------------------------------------------------------- the file store

def test_one_client_cannot_evict_anothers_recent_files(tmp_path):
    store = files.Store(tmp_path / "root", budget=10_000, share=4_000, keep_s=600).open()
    with store.folder("victim") as folder:
        kept = store.write(folder, "tune.mid", bytes(3000))
    for i in range(20):                       # the attacker's own oldest make room for its newest
        with store.folder("attacker") as folder:
            store.write(folder, "book.abc", bytes(1500))
        assert store.used() <= 10_000
    assert kept.exists()
    attacker = sum(e[1] for e in store._entries.values() if e[2] == "attacker")
    assert attacker <= 4_000


def test_when_every_byte_is_promised_the_writer_is_told_to_come_back(tmp_path):
    store = files.Store(tmp_path / "root", budget=10_000, share=10_000, keep_s=600).open()
    for who in ("a", "b", "c"):
        with store.folder(who) as folder:
            store.write(folder, "f", bytes(3000))
    with pytest.raises(files.StoreBusy, match="try again in a few minutes"), store.folder("d") as folder:
        store.write(folder, "f", bytes(3000))
    assert len([p for p in (tmp_path / "root").iterdir() if p.name not in (files.SCRATCH, files.LOCK_NAME)]) == 3


def test_past_their_promised_lifetime_others_files_make_room(tmp_path):
    store = files.Store(tmp_path / "root", budget=10_000, share=10_000, keep_s=0).open()
    with store.folder("a") as folder:
        old = store.write(folder, "f", bytes(6000))
    with store.folder("b") as folder:
        store.write(folder, "f", bytes(6000))
    assert not old.exists()


# --------------------------------------------------------------------------- sessions

def test_sessions_unused_past_their_age_are_forgotten():
    now = datetime.datetime.now()
    holder = SimpleNamespace(lock=threading.Lock(), session_data={"old": 1, "new": 2},
                             time_last_used={"old": now - datetime.timedelta(hours=2), "new": now})
    assert serve.expire_sessions(SimpleNamespace(state_holder=holder), max_age_s=1800) == 1
    assert list(holder.session_data) == ["new"] and list(holder.time_last_used) == ["new"]


def test_the_page_keeps_at_most_the_sessions_it_is_allowed(tmp_path, monkeypatch):
    import app
    from abcgen.web.events import Config
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))      # create() points the framework there
    blocks = app.build(app.create(Config(files_dir=tmp_path)))
    serve.app_for(blocks, serve.ServerLimits(sessions=7), [], "127.0.0.1", 0)
    for i in range(50):
        blocks.state_holder[f"session-{i}"]
    assert len(blocks.state_holder.session_data) == 7


def test_server_limits_read_from_the_environment():
    limits = serve.ServerLimits.from_env({"ABCGEN_PER_CLIENT": "7", "ABCGEN_READ_S": "2.5", "SPACE_ID": "x/y"})
    assert limits.per_client == 7 and limits.read_s == 2.5 and limits.proxies == "*"
    assert serve.ServerLimits.from_env({}).proxies == ""
    assert limits.connection_cap() <= limits.total


# --------------------------------------------------------------------------- share links

def packed(data) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return share.PREFIX + base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")


@pytest.mark.parametrize("fragment", [
    "#elsewhere", packed({"x": 10**30}), packed({"seed": 2**70}), packed({"temperature": math.nan}),
    packed({"temperature": math.inf}), packed({"seed": "seven"}), packed({"title": ["a"]}), packed({"num": 2.5}),
    packed({"abc": "a" * 30_000}), packed([1, 2]), packed(b"[" * 100_000), "#tune=" + "A" * 300_000, "#tune=!"])
def test_a_damaged_link_is_a_message_naming_the_link(fragment):
    with pytest.raises(FieldError) as caught:
        share.unpack(fragment)
    assert caught.value.field == "link" and "damaged" in str(caught.value)


def test_a_good_link_reads_back():
    settings = {"title": "A", "abc": "X:1\nK:D\nabc|", "seed": 3, "temperature": 0.9, "x": 2}
    assert share.unpack("#" + share.pack(settings)) == settings
    assert share.unpack("") == {} and share.unpack("#") == {}


def test_the_page_drops_a_stored_history_too_large_to_send():
    script = (ROOT / "assets" / "page.js").read_text()
    assert "removeItem(HISTORY_KEY)" in script and '"abcgen-history"' in script
    assert 'storage_key="abcgen-history"' in (ROOT / "app.py").read_text()


# --------------------------------------------------------------------------- the command line

def book(tmp_path: Path, count: int) -> Path:
    tune = "X:{n}\nT:Tune {n}\nM:6/8\nL:1/8\nK:D\n|:dAF DFA|dfe dcB:|\n\n"
    path = tmp_path / "book.abc"
    path.write_text("".join(tune.format(n=n) for n in range(1, count + 1)))
    return path


def test_convert_takes_a_folder_and_keeps_to_its_budget(tmp_path):
    folder = tmp_path / "tunes"
    folder.mkdir()
    (tmp_path / "empty").mkdir()
    book(folder, 4)
    done = subprocess.run([sys.executable, "-m", "abcgen.convert", str(folder), str(tmp_path / "empty"),
                           "--out", str(tmp_path / "out"), "--max-tunes", "2", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert report["skipped"] == 2 and "skipped 2 tune(s), --max-tunes 2 reached" in done.stderr
    assert sum(t.get("ok", False) for t in report["tunes"]) == 2
    assert len(list((tmp_path / "out").glob("*.mid"))) == 2
    assert "is a folder with no .abc file" in done.stderr    # the empty folder, named plainly


@pytest.mark.slow
def test_convert_stopped_with_sigterm_leaves_no_temporary_files(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "abcgen.convert", str(book(tmp_path, 200)), "--out",
                             str(tmp_path / "out")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={"PATH": "/usr/bin:/bin", "TMPDIR": str(scratch), "PYTHONPATH": str(ROOT),
                                            "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:                   # wait until it is converting
        if "wrote" in line:
            break
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 128 + signal.SIGTERM
    assert list(scratch.iterdir()) == []
    assert not list((tmp_path / "out").glob(".*"))            # no half-written file either


def test_an_opening_that_alone_plays_too_long_is_refused_before_sampling(monkeypatch):
    from abcgen import compose
    from abcgen.sampling.asked import Header
    header = Header.parse("4/4", "1/1", "C", "1/4=20", "", 1)
    sampler = SimpleNamespace(stream=lambda *a, **k: pytest.fail("sampled"))
    with pytest.raises(FieldError) as caught:
        list(compose.compose_stream(sampler, header, "C8|" * 30))
    assert caught.value.field == "opening" and "alone play for 48 minutes" in str(caught.value)
