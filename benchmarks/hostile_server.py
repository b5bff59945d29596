"""A hostile client against the running app, and another client who must still be served (run through
`python -m benchmarks.hostile_requests --server`). Everything stays on loopback: the app listens on
127.0.0.1, attackers come from 127.0.0.1, 127.0.0.2, ... and the other client from an address of its
own. Figures printed per attack:

- connections: half-open requests past the app's file-descriptor limit, from two addresses, held
  `hold` seconds: the other client's slowest answer, its failures, the log's growth;
- urls: a file given as a URL to every event: refusals, fetches seen, what the store kept;
- queue: 22 Renders of a legal 20,000-character reel at once from one address: seconds until
  another address's /compose answers;
- sessions: 3,000 events, each from a new session, from 1,000 addresses: the app's memory before/after;
- log: 480 events with a 250 KB value for the tune-type radio: the log's growth;
- store: tune books from 8 addresses for 30 s: whether a file handed out before is still there.
"""
from __future__ import annotations

import json
import secrets
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from benchmarks.serving import Served, running_app

FD_LIMIT = 1024
LAUNCH = ("import resource; s, h = resource.getrlimit(resource.RLIMIT_NOFILE); "
          f"resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, h)); import app; app.main()")
COMPOSE = ["6/8", "D", "1/8", "Other", "", 1.0, 0, 1, "", "", 0, 1.0, 200, 1,
           "fiddle", None, "", "", 1.0, False, "", ""]


class App:
    """`python app.py` started by benchmarks.serving in a fresh folder, and its page's events."""

    def __init__(self, served: Served):
        self.served, self.url, self.port, self.work, self.log = (served, served.url, served.port, served.workdir,
                                                                 served.log)
        self.config = httpx.get(self.url + "/config", timeout=30).json()

    def fn(self, api_name: str) -> int:
        return next(d["id"] for d in self.config["dependencies"] if d.get("api_name") == api_name)

    def rss_mb(self) -> float:
        return self.served.rss_mb() or 0.0


def client(address: str, timeout: float = 60) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=timeout)


def join(c: httpx.Client, app: App, fn: int, data: list, session: str | None = None) -> httpx.Response:
    return c.post(app.url + "/gradio_api/queue/join", json={"data": data, "fn_index": fn,
                                                          "session_hash": session or secrets.token_hex(8)})


def run_event(c: httpx.Client, app: App, fn: int, data: list, timeout: float = 600) -> dict:
    session = secrets.token_hex(8)
    joined = join(c, app, fn, data, session)
    if joined.status_code != 200:
        return {"success": False, "status": joined.status_code}
    with c.stream("GET", f"{app.url}/gradio_api/queue/data?session_hash={session}", timeout=timeout) as s:
        for line in s.iter_lines():
            if line.startswith("data:") and json.loads(line[5:]).get("msg") == "process_completed":
                return json.loads(line[5:])
    return {"success": False}


def connections(app: App, hold: float, **_) -> None:
    stop, opened, waits, failures = threading.Event(), [0], [], [0]

    def attack(address):
        held = []
        while not stop.is_set():
            s = socket.socket()
            s.settimeout(2)
            try:
                s.bind((address, 0))
                s.connect(("127.0.0.1", app.port))
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-a: ")
                held.append(s)
                opened[0] += 1
            except OSError:
                s.close()
            if len(held) > FD_LIMIT:
                held.pop(0).close()
        for s in held:
            s.close()

    size = app.log.stat().st_size
    threads = [threading.Thread(target=attack, args=(a,)) for a in ("127.0.0.1", "127.0.0.2")]
    for t in threads:
        t.start()
    with client("127.0.0.3", timeout=10) as other:
        end = time.monotonic() + hold
        while time.monotonic() < end:
            start = time.monotonic()
            try:
                ok = other.get(app.url + "/config").status_code == 200
            except httpx.HTTPError:
                ok = False
            waits.append(time.monotonic() - start)
            failures[0] += not ok
            time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(60)
    print(f"connections: {opened[0]:,} half-open opened over {hold:.0f} s (app's descriptor limit {FD_LIMIT:,}); "
          f"other client: {len(waits)} requests, {failures[0]} failed, slowest {max(waits):.2f} s; "
          f"log grew {(app.log.stat().st_size - size) / 1024:.1f} KB")


def urls(app: App, **_) -> None:
    before = {str(p) for p in (app.work / "cache").rglob("*")}
    statuses = []
    with client("127.0.0.4") as c:
        for dep in app.config["dependencies"]:
            for slot in range(max(1, len(dep["inputs"]))):
                data = [None] * len(dep["inputs"])
                data[slot:slot + 1] = [{"path": "http://127.0.0.1:9/big.bin", "meta": {"_type": "gradio.FileData"}}]
                statuses.append(join(c, app, dep["id"], data).status_code)
    after = {str(p) for p in (app.work / "cache").rglob("*")}
    print(f"urls: {len(statuses)} events with a URL as a file ({len(app.config['dependencies'])} events): "
          f"{statuses.count(400)} refused with 400; store entries added: {len(after - before)}")


def queue(app: App, legal_long: str, **_) -> None:
    render, statuses = app.fn("on_render"), []
    with ThreadPoolExecutor(22) as pool:
        def one(_):
            with client("127.0.0.5") as c:
                statuses.append(join(c, app, render, [legal_long]).status_code)
        list(pool.map(one, range(22)))
        start = time.monotonic()
        with client("127.0.0.6", timeout=600) as other:
            done = run_event(other, app, app.fn("compose"), COMPOSE)
    print(f"queue: 22 Renders from one address: {statuses.count(200)} queued, {statuses.count(429)} refused; "
          f"another address's /compose {'answered' if done.get('success') else 'FAILED'} in "
          f"{time.monotonic() - start:.1f} s")


def sessions(app: App, **_) -> None:
    share = app.fn("on_share")
    values = ["jig", "x" * 15_000, 1, "6/8", "1/8", "D", "3/8=116", "", "AABB", 1.0, 0, 0, 1200, 1, "X:1\nK:D\nabc|"]
    before = app.rss_mb()

    def one(address):   # 3 events from each of 1,000 addresses: within each address's share of the queue
        with client(address) as c:
            return sum(join(c, app, share, values).status_code == 200 for _ in range(3))
    with ThreadPoolExecutor(8) as pool:
        accepted = sum(pool.map(one, [f"127.0.{4 + i // 250}.{1 + i % 250}" for i in range(1000)]))
    time.sleep(5)   # the last events finish
    print(f"sessions: {accepted:,} of 3,000 events accepted, each a new session; app memory "
          f"{before:.0f} MB -> {app.rss_mb():.0f} MB ({app.rss_mb() - before:+.0f} MB)")


def log(app: App, **_) -> None:
    tune_type, size = app.fn("on_tune_type"), app.log.stat().st_size

    def one(address):
        with client(address) as c:
            return sum(run_event(c, app, tune_type, ["x" * 250_000]).get("status", 200) == 200 for _ in range(20))
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        sent = sum(pool.map(one, [f"127.0.2.{i}" for i in range(1, 25)]))
    print(f"log: {sent} events with a 250 KB tune type in {time.monotonic() - start:.1f} s; "
          f"log grew {(app.log.stat().st_size - size) / 1024:.1f} KB")


def store(app: App, **_) -> None:
    with client("127.0.0.7") as victim:
        done = run_event(victim, app, app.fn("compose"), COMPOSE)
    kept = Path(done["output"]["data"][1]["path"])
    book = app.fn("on_tune_book")
    history = [{"label": f"{i}", "abc": "X:1\nT:Book\nK:D\n" + "abcd efga|" * 1900} for i in range(5)]
    end, calls = time.monotonic() + 30, [0]

    def flood(address):
        with client(address) as c:
            while time.monotonic() < end:
                calls[0] += run_event(c, app, book, [history]).get("success", False)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(flood, [f"127.0.3.{i}" for i in range(1, 9)]))
    used = sum(p.stat().st_size for p in (app.work / "cache").rglob("*") if p.is_file())
    print(f"store: {calls[0]} tune books of about 100 KB from 8 addresses in 30 s; store holds {used / 2**20:.1f} "
          f"MB; the other client's file from before is {'still there' if kept.exists() else 'GONE'}")


ATTACKS = {"connections": connections, "urls": urls, "queue": queue, "sessions": sessions, "log": log,
           "store": store}


def run(hold: float, only: str | None, legal_long: str) -> int:
    for name in [only] if only else ATTACKS:
        env = {"ABCGEN_FILES_MB": "20"} if name == "store" else {}
        work = Path(tempfile.mkdtemp(prefix="abcgen-hostile-"))
        with running_app(None, work, code=LAUNCH, env=env) as served:
            ATTACKS[name](App(served), hold=hold, legal_long=legal_long)
    return 0
