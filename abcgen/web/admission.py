"""Who may put work in the queue: checked before the web framework reads a request's data.

`Admission` is an ASGI middleware in front of every route that starts an event (the page's
queue/join, the API's call routes). For each such request it

- refuses a file or a URL anywhere in the data: the page takes no files, and the framework would
  otherwise fetch a URL given as a file and keep it in the store;
- holds each client address to `rate` events a second (bursts of `burst`), cheap events included;
- holds each client address to `per_client` events waiting or running at once, of which at most
  `per_client_work` may be work that samples or renders, so one client cannot fill the queue
  whatever session names it makes up.

A client is its address, as the server saw it (or as a trusted proxy named it).
"""
from __future__ import annotations

import json
import logging
import time
from collections import Counter, OrderedDict

log = logging.getLogger(__name__)

EVENT_ROUTES = ("/queue/join", "/call/", "/run/", "/api/")
MAX_ADDRESSES = 10_000       # rate buckets kept; the least recently seen go first
MAX_DEPTH = 20               # nesting of the data looked through; deeper is refused outright


def carries_file(data, depth: int = 0) -> bool:
    """Whether `data` (decoded JSON) holds anything the framework would treat as a file or fetch:
    an object with a "meta", "path" or "url" key (its FileData shape), at any depth."""
    if depth > MAX_DEPTH:
        return True
    if isinstance(data, dict):
        return bool({"meta", "path", "url"} & data.keys()) or any(
            carries_file(v, depth + 1) for v in data.values())
    if isinstance(data, list):
        return any(carries_file(v, depth + 1) for v in data)
    return False


class Buckets:
    """A token bucket per address: `rate` a second, up to `burst` saved up."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, address: str) -> bool:
        now = self.clock()
        tokens, then = self._buckets.pop(address, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        ok = tokens >= 1
        self._buckets[address] = (tokens - 1 if ok else tokens, now)
        while len(self._buckets) > MAX_ADDRESSES:
            self._buckets.popitem(last=False)
        return ok


def queued_by(blocks, address: str) -> tuple[int, int]:
    """Events from `address` waiting or running in the framework's queue: (all, work)."""
    queue = getattr(blocks, "_queue", None)
    if queue is None:
        return 0, 0
    events = [e for q in list(queue.event_queue_per_concurrency_id.values()) for e in list(q.queue)]
    events += [e for jobs in list(queue.active_jobs) if jobs for e in list(jobs)]
    mine = [e for e in events if _address(getattr(e, "request", None)) == address]
    return len(mine), sum(1 for e in mine if e.concurrency_id == "work")


def _address(request) -> str | None:
    client = getattr(request, "client", None)
    return getattr(client, "host", None)


class Admission:
    """ASGI middleware; see the module docstring. `blocks` is the page whose queue is counted."""

    def __init__(self, app, blocks, per_client: int, per_client_work: int, rate: float, burst: float,
                 clock=time.monotonic):
        self.app, self.blocks = app, blocks
        self.per_client, self.per_client_work = per_client, per_client_work
        self.buckets = Buckets(rate, burst, clock)
        self.joining: Counter[str] = Counter()   # requests past this gate, not yet in the queue
        self.refused: Counter[str] = Counter()
        self._logged = 0.0
        self.clock = clock

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or \
                not any(route in scope["path"] for route in EVENT_ROUTES):
            return await self.app(scope, receive, send)
        address = (scope.get("client") or ("",))[0]
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        problem = self.problem(address, body)
        if problem:
            self._note(address, problem)
            return await _refuse(send, *problem)

        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        self.joining[address] += 1
        try:
            await self.app(scope, replay, send)
        finally:
            self.joining[address] -= 1
            if self.joining[address] <= 0:
                del self.joining[address]

    def problem(self, address: str, body: bytes) -> tuple[int, str] | None:
        """Why this event may not join the queue (status, message), or None."""
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            return None                     # the framework answers malformed requests itself
        if carries_file(data):
            return 400, "this app takes no files or links in its fields"
        if not self.buckets.take(address):
            return 429, "too many requests from your address; wait a few seconds and try again"
        waiting, work = queued_by(self.blocks, address)
        waiting += self.joining[address]
        if waiting >= self.per_client or (self._is_work(data) and work >= self.per_client_work):
            return 429, ("you already have tunes being written or drawn; wait for them to finish, "
                         "then try again")
        return None

    def _is_work(self, data) -> bool:
        fns = getattr(self.blocks, "fns", {})
        index = data.get("fn_index") if isinstance(data, dict) else None
        fn = fns.get(index) if isinstance(fns, dict) and isinstance(index, int) else None
        if fn is None and isinstance(data, dict) and isinstance(data.get("api_name"), str):
            fn = next((f for f in fns.values() if f.api_name == data["api_name"].strip("/")), None)
        return fn is None or fn.concurrency_id == "work"

    def _note(self, address: str, problem: tuple[int, str]) -> None:
        """Refusals, summarized: at most one log line a minute."""
        self.refused[problem[1][:40]] += 1
        now = self.clock()
        if now - self._logged >= 60:
            self._logged = now
            log.warning("events refused before the queue (last from %s): %s", address,
                        "; ".join(f"{n} x {why}" for why, n in self.refused.most_common()))
            self.refused.clear()


async def _refuse(send, status: int, text: str) -> None:
    body = json.dumps({"detail": text}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
