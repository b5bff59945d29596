"""Bounds the web app puts on every request before any expensive work starts.

- `RequestLimits`, an ASGI middleware: request bodies over `max_body` bytes are refused (by their
  Content-Length, and by counting a streamed body as it arrives), uploads are refused before a byte
  of them is read (the page takes none, so nothing is ever written to disk for them), and each
  request is stamped with its arrival time.
- `deadline(request)`: one deadline per request, counted from that arrival, so the time spent
  waiting in the queue counts too; sampling, every retry and every conversion share it.
- `Work`: counts the requests that sample or render, for the log; the web framework's queue is
  what holds them to the shared limit.
"""
from __future__ import annotations

import logging
import math
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import HTTPException

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024          # bytes in one request body
REQUEST_SECONDS = 60.0         # one request, from arrival to answer, queue wait included

# Routes that would write what a client sends to disk: uploads, recordings and streamed input.
# The page has no upload or streaming inputs, so they are refused outright.
REFUSED = re.compile(r"/(upload|process_recording|stream/[^/]+(/close)?|vibe-[\w-]+|undo-vibe-edit)/?$")


class BodyTooLarge(HTTPException):
    """Raised while a body is read; an HTTPException, so the framework answers 413 itself."""

    def __init__(self, limit: int):
        super().__init__(status_code=413, detail=f"request body over {limit // 1024} KB")


class RequestLimits:
    """ASGI middleware; see the module docstring."""

    def __init__(self, app, max_body: int = MAX_BODY):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        scope.setdefault("state", {})["arrived"] = time.monotonic()
        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and REFUSED.search(scope["path"]):
            return await _answer(send, 403, "this app takes no uploads")
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                too_long = int(length) > self.max_body
            except ValueError:
                return await _answer(send, 400, "bad Content-Length")
            if too_long:
                return await _answer(send, 413, f"request body over {self.max_body // 1024} KB")

        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if not started:
                await _answer(send, 413, f"request body over {self.max_body // 1024} KB")


async def _answer(send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def arrival(request) -> float:
    """When the request reached the server (time.monotonic()), as stamped by RequestLimits; now
    when unknown (a call from Python rather than over HTTP)."""
    try:
        arrived = request.request.scope["state"]["arrived"]
        if isinstance(arrived, float) and math.isfinite(arrived):
            return arrived
    except (AttributeError, KeyError, TypeError):
        pass
    return time.monotonic()


def deadline(request, seconds: float = REQUEST_SECONDS) -> float:
    """The time.monotonic() by which this request must be answered."""
    return arrival(request) + seconds


class OutOfTime(RuntimeError):
    """The request's deadline passed before its work was done."""


@dataclass(frozen=True)
class Job:
    """One request's work: its deadline and who asked (the client's address, which a client cannot
    make up as it can a session name): the converters give every client a turn, and the file store
    counts each client's files against its own share."""
    deadline: float
    client: str | None = None

    def left(self, what: str, least: float = 0.5) -> float:
        """Seconds left before the deadline; OutOfTime when fewer than `least` remain."""
        seconds = self.deadline - time.monotonic()
        if seconds < least:
            raise OutOfTime(f"the server is busy and ran out of time {what}; try again in a minute, "
                            "or ask for fewer candidates or a shorter maximum length")
        return seconds


def client_of(request) -> str | None:
    """Who sent a request: its client address (as the server, or a trusted proxy, saw it)."""
    try:
        return request.client.host or None
    except AttributeError:
        return None


def job(request, seconds: float = REQUEST_SECONDS) -> Job:
    """The Job for a request, its deadline counted from its arrival."""
    return Job(deadline(request, seconds), client_of(request))


class Work:
    """How many requests are sampling or rendering right now; each start is logged with the count."""

    def __init__(self):
        self._lock = threading.Lock()
        self.running = 0

    @contextmanager
    def slot(self, name: str):
        with self._lock:
            self.running += 1
            now = self.running
        log.info("%s started, %d running", name, now)
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1
