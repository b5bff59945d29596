"""Bounds on connections, before a request is read: how many, from whom, and for how long.

The web server (uvicorn) waits forever for a request that is sent half way, and accepts connections
until the process runs out of file descriptors; then every visitor is turned away. `protocol` makes
uvicorn's HTTP protocol class that a `Gate` guards:

- at most `per_address` connections from one client address and `total` in all; one more is answered
  503 and closed at once, so it holds its file descriptor for no time at all;
- a request must arrive whole (headers and body) within `read_s` of the connection opening or of the
  previous answer ending; a connection that dawdles is closed;
- refusals are counted and logged as one summary line a minute, never one line per connection.

Addresses of a trusted proxy (`exempt`; "*" for all) are held only to the total: every visitor comes
through them.
"""
from __future__ import annotations

import logging
import time
from collections import Counter

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 47\r\n"
           b"Connection: close\r\nRetry-After: 10\r\n\r\ntoo many connections; try again in a few seconds")
SUMMARY_S = 60.0


class Gate:
    """Open connections by client address, within `per_address` each and `total` in all."""

    def __init__(self, per_address: int, total: int, read_s: float, exempt=(), clock=time.monotonic):
        self.per_address, self.total, self.read_s = per_address, total, read_s
        self.exempt = set(exempt)
        self.open: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()   # since the last summary
        self.slow = 0                            # closed for sending too slowly, since the last summary
        self.clock = clock
        self._summary_due: float | None = None

    def admit(self, address: str) -> bool:
        held = sum(self.open.values())
        capped = address not in self.exempt and "*" not in self.exempt
        if held >= self.total or (capped and self.open[address] >= self.per_address):
            self.refused[address] += 1
            self._note()
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]

    def closed_slow(self) -> None:
        self.slow += 1
        self._note()

    def _note(self) -> None:
        """Log what was refused, at most once per SUMMARY_S."""
        now = self.clock()
        if self._summary_due is None:
            self._summary_due = now + SUMMARY_S
            self.summary("first refusals")
        elif now >= self._summary_due:
            self._summary_due = now + SUMMARY_S
            self.summary(f"in the last {SUMMARY_S:.0f} s")

    def summary(self, when: str) -> None:
        if self.refused or self.slow:
            top = ", ".join(f"{a} ({n})" for a, n in self.refused.most_common(3))
            log.warning("connections %s: %d refused (caps: %d per address, %d in all)%s; %d closed for "
                        "sending a request too slowly (over %.0f s); %d open now",
                        when, sum(self.refused.values()), self.per_address, self.total,
                        f", most from {top}" if top else "", self.slow, self.read_s, sum(self.open.values()))
        self.refused.clear()
        self.slow = 0


def protocol(gate: Gate) -> type:
    """uvicorn's HTTP/1.1 protocol with `gate` in front (pass as uvicorn.Config(http=...))."""

    class GatedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            peer = transport.get_extra_info("peername")
            self._address = peer[0] if isinstance(peer, tuple) and peer else ""
            self._admitted = gate.admit(self._address)
            if not self._admitted:
                transport.write(REFUSAL)
                transport.close()
                return
            super().connection_made(transport)
            self._read_timer = self.loop.call_later(gate.read_s, self._check_read)

        def data_received(self, data: bytes) -> None:
            if self._admitted:
                super().data_received(data)

        def connection_lost(self, exc) -> None:
            if not self._admitted:
                return
            self._admitted = False
            gate.release(self._address)
            self._read_timer.cancel()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._admitted:
                self._read_timer.cancel()
                self._read_timer = self.loop.call_later(gate.read_s, self._check_read)

        def _check_read(self) -> None:
            """Close the connection when no whole request has arrived in time (headers still coming,
            or a body still dripping in); one being answered is left alone."""
            if self.transport.is_closing():
                return
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
                gate.closed_slow()
                self.transport.close()

    return GatedH11Protocol
