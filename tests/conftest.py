"""Shared fixtures and helpers. Fixtures are written by the tests themselves from music21's folk
corpus; the app is started the way a user starts it, on a free loopback port."""
import json
import os
import secrets
import sys
import time
from pathlib import Path

import pytest

from benchmarks.serving import Served, running_app

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test may skip where a system tool (abc2midi, Chromium) is missing; where
    ABCGEN_REQUIRE_TOOLS is set (CI, which installs them all), that skip is a failure instead."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("ABCGEN_REQUIRE_TOOLS") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped where every tool must be installed (ABCGEN_REQUIRE_TOOLS): {reason}"


@pytest.fixture(scope="session")
def small_book(tmp_path_factory) -> Path:
    """A tune book of 60 real tunes (O'Neill's: 48 airs and marches, then 12 tunes whose R: names
    their type), enough for a tiny training run."""
    from abcgen.learn.sources import folk_paths, read_text, split_tune_book
    books = {p.name: p for p in folk_paths() if "oneills1850" in str(p)}
    tunes = split_tune_book(read_text(books["0001-0050.abc"]))[:48]
    tunes += split_tune_book(read_text(books["1176-1275.abc"]))[:12]
    path = tmp_path_factory.mktemp("book") / "book.abc"
    path.write_text("".join(tunes))
    return path


def tiny_overrides(data: Path, out: Path, **extra) -> list[str]:
    items = {"data": str(data), "out_dir": str(out), "cache_dir": str(out / "cache"), **extra}
    return [f"{k}={v}" for k, v in items.items()]


@pytest.fixture(scope="session")
def tiny_checkpoint(small_book, tmp_path_factory) -> Path:
    """A tiny model really trained for a few seconds on real tunes (form codes included)."""
    from abcgen import train
    out = tmp_path_factory.mktemp("tiny")
    cfg = train.load_config(str(ROOT / "configs/tiny.yaml"),
                            tiny_overrides(small_book, out, max_steps=40, eval_every=20))
    train.train(cfg)
    return out / "best.pt"


@pytest.fixture(scope="session")
def sampler(tiny_checkpoint):
    """A sampler on the tiny checkpoint, loaded as the app loads one (int8 weights on the CPU)."""
    from abcgen.sampling.sample import load_sampler
    return load_sampler(tiny_checkpoint)


def wait_for(done, timeout: float = 120, what: str = "the awaited event", ignoring=(), poll: float = 0.05):
    """Wait until `done()` returns something true, and return it: the one way a test waits for
    something another thread or process does (exceptions in `ignoring` count as not yet). The
    `timeout` is generous, so a busy machine only makes the test slower, never wrong."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = done()
        except ignoring:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(poll)


def app_checkpoint(request) -> Path:
    """The checkpoint the app should serve: ABCGEN_CHECKPOINT, else the shipped one, else the tiny one."""
    from abcgen.learn.checkpoint import SHIPPED
    if os.environ.get("ABCGEN_CHECKPOINT"):
        return Path(os.environ["ABCGEN_CHECKPOINT"])
    if SHIPPED.exists():
        return SHIPPED
    return request.getfixturevalue("tiny_checkpoint")


@pytest.fixture(scope="session")
def plain_app(request, tmp_path_factory) -> Served:
    """`python app.py` with its default limits, started once and shared by every test that needs
    the app as a musician meets it (test_app_api, test_app_limits, test_browser, test_reliability).
    A test that needs other limits or other launch code starts an app of its own, and says why."""
    with running_app(app_checkpoint(request), tmp_path_factory.mktemp("app")) as app:
        yield app


def queue_event(http, url: str, fn_index: int, data: list, trigger_id: int | None = None,
                timeout: float = 300) -> dict:
    """Run one event the way the page does (join the queue, read the event stream) with `http` (the
    httpx module, or an httpx.Client); the last message: {"msg": "process_completed", "output": ...,
    "success": ...}."""
    session = secrets.token_hex(8)
    joined = http.post(url + "/gradio_api/queue/join", timeout=10, json={
        "data": data, "fn_index": fn_index, "session_hash": session, "trigger_id": trigger_id, "event_data": None})
    assert joined.status_code == 200, joined.text
    with http.stream("GET", f"{url}/gradio_api/queue/data?session_hash={session}", timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the event stream ended without a result")
