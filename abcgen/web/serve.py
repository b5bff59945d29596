"""Serving the page with every bound a hostile client meets, before and after a request is read.

The page (a gradio Blocks) is mounted on a FastAPI app and served by uvicorn, run here rather than by
gradio's own launch, so that connections pass through abcgen.web.connections (caps by address and in
all, a deadline for a whole request), events through abcgen.web.admission (no files or URLs, a rate
and a queue share per client) and request bodies through abcgen.web.limits. Besides:

- the framework's own downloading of URLs is switched off (`refuse_fetching`), a second lock behind
  the admission check;
- the sessions the framework keeps (the page's state for each browser tab) are bounded in number and
  expire when unused (`expire_sessions_every`);
- errors the event loop reports (a flood of connections) are summarized, not logged one by one.
"""
from __future__ import annotations

import asyncio
import datetime
import logging
import os
import resource
import threading
import time
from collections import Counter
from dataclasses import dataclass, fields

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    """Bounds on connections, events and sessions; `from_env` reads ABCGEN_<NAME> overrides."""
    per_address: int = 32          # open connections from one client address
    total: int = 512               # open connections in all (never over a third of the descriptors)
    read_s: float = 10.0           # a whole request (headers and body) must arrive within this
    keep_alive_s: float = 5.0      # an idle connection between requests is closed after this
    backlog: int = 64              # connections waiting to be accepted, and accepted in one go: a small
                                   # batch lets other work run between batches of a flood
    per_client: int = 4            # events waiting or running per client address
    per_client_work: int = 2       # of which sampling or rendering
    rate: float = 2.0              # events a second per client address ...
    burst: float = 20.0            # ... saved up to this many
    sessions: int = 200            # browser sessions whose page state is kept
    session_age_s: float = 1800.0  # a session unused this long is forgotten
    proxies: str = ""              # proxy addresses trusted to name the client (X-Forwarded-For), or "*"

    @classmethod
    def from_env(cls, env=None) -> "ServerLimits":
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(f"ABCGEN_{f.name.upper()}")
            if raw:
                values[f.name] = raw if f.type == "str" else type(getattr(cls, f.name))(float(raw))
        if "proxies" not in values and env.get("SPACE_ID"):
            values["proxies"] = "*"    # on a Hugging Face Space only its proxy reaches the app
        return cls(**values)

    def connection_cap(self) -> int:
        """The total, within a third of this process's file descriptors (the rest: files, workers)."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return max(16, min(self.total, soft // 3))


def refuse_fetching() -> None:
    """Make the framework's URL download refuse: the page takes no files, so nothing is ever fetched
    on a client's word, even if a URL got past the admission check."""
    from gradio import processing_utils

    async def refused(*_args, **_kwargs):
        raise ValueError("this app fetches no URLs")
    processing_utils.async_ssrf_protected_download = refused
    processing_utils.async_ssrf_protected_get = refused


def expire_sessions(blocks, max_age_s: float) -> int:
    """Forget the page state of sessions unused for max_age_s; how many went."""
    holder = getattr(blocks, "state_holder", None)
    if holder is None:
        return 0
    cutoff = datetime.datetime.now() - datetime.timedelta(seconds=max_age_s)
    with holder.lock:
        old = [s for s, used in list(holder.time_last_used.items()) if used < cutoff]
        for session in old:
            holder.session_data.pop(session, None)
            holder.time_last_used.pop(session, None)
    return len(old)


def expire_sessions_every(blocks, max_age_s: float, interval_s: float = 60.0) -> threading.Thread:
    def loop():
        while True:
            time.sleep(interval_s)
            try:
                expire_sessions(blocks, max_age_s)
            except Exception:  # a failed sweep must not stop the next
                log.exception("expiring sessions failed")
    thread = threading.Thread(target=loop, name="session-expiry", daemon=True)
    thread.start()
    return thread


class LoopErrors:
    """An event-loop exception handler that logs each kind of error once a minute, with a count."""

    def __init__(self, clock=time.monotonic):
        self.counts: Counter[str] = Counter()
        self.last: dict[str, float] = {}
        self.clock = clock

    def __call__(self, loop, context: dict) -> None:
        exc = context.get("exception")
        kind = f"{context.get('message', 'error')}: {type(exc).__name__ if exc else ''} {exc or ''}"[:200]
        self.counts[kind] += 1
        now = self.clock()
        if now - self.last.get(kind, -1e9) >= 60:
            self.last[kind] = now
            log.error("event loop: %s (%d times since last said)", kind, self.counts.pop(kind))


def app_for(blocks, limits: ServerLimits, middleware: list, host: str, port: int, **options):
    """The FastAPI app serving `blocks`, with the admission check and `middleware` in front."""
    import gradio as gr
    from fastapi import FastAPI
    from starlette.middleware import Middleware

    from abcgen.web.admission import Admission

    refuse_fetching()
    blocks.state_session_capacity = limits.sessions
    admission = Middleware(Admission, blocks=blocks, per_client=limits.per_client,
                           per_client_work=limits.per_client_work, rate=limits.rate, burst=limits.burst)
    outer = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    return gr.mount_gradio_app(outer, blocks, path="/", server_name=host, server_port=port,
                               app_kwargs={"middleware": [*middleware, admission]}, **options)


def serve(blocks, host: str, port: int, limits: ServerLimits, middleware: list, **options) -> None:
    """Serve `blocks` on host:port until stopped (options: those of gradio.mount_gradio_app)."""
    import uvicorn

    from abcgen.web import connections

    app = app_for(blocks, limits, middleware, host, port, **options)
    expire_sessions_every(blocks, limits.session_age_s)
    gate = connections.Gate(limits.per_address, limits.connection_cap(), limits.read_s,
                            exempt=limits.proxies.split(",") if limits.proxies else ())
    config = uvicorn.Config(app, host=host, port=port, http=connections.protocol(gate), ws="none",
                            loop="asyncio", lifespan="on", timeout_keep_alive=limits.keep_alive_s,
                            proxy_headers=bool(limits.proxies), forwarded_allow_ips=limits.proxies or None,
                            access_log=False, log_config=None, server_header=False,
                            h11_max_incomplete_event_size=16 * 1024, backlog=limits.backlog)
    server = uvicorn.Server(config)

    async def run():
        asyncio.get_running_loop().set_exception_handler(LoopErrors())
        log.info("serving on http://%s:%d (at most %d connections, %d per address)", host, port,
                 gate.total, gate.per_address)
        await server.serve()
    asyncio.run(run())
