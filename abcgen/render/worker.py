"""Worker processes that read and convert untrusted ABC, with every call bounded in time.

A pathological tune, or a crash inside a C extension, must not hang or kill the
caller, so the work runs in separate processes. `call` bounds the whole call with
one deadline: waiting for a free worker (starting one included), then the work.
When time runs out the message says whose fault it was: a worker that was busy
with other callers, stopped or starved of CPU is not blamed on the tune.

Fair turns: waiting callers are served first come, first served, and a caller
that names a `client` holds at most one worker at a time, so one client's long
conversions cannot take every worker while others wait. Callers without a client
(command line, tests) are only queued in order.

A worker's address space is capped (MEMORY_LIMIT), so a tune that would need
gigabytes fails with a message instead of exhausting the machine. A worker that
dies, is stopped or runs out of time is killed and replaced by a fresh one.
"""

from __future__ import annotations

import atexit
import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from abcgen.errors import RenderError

POOL_SIZE = 2
MAX_TIMEOUT = 600.0  # seconds; a longer bound is no bound for a web request or the command line
START_TIMEOUT = 60.0  # seconds a worker may take to import music21 and verovio
MEMORY_LIMIT = 4 * 2**30  # bytes of address space per worker (it needs about 1 GB for a 1,000-bar tune)

# Signals that mean the worker crashed on its own, inside the work: the tune's doing.
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT}
BUSY = "The renderer is busy; try again in a few seconds"


def serve(fd: int) -> None:
    """Worker loop: prepare once, then run jobs until the pipe closes."""
    import resource
    import warnings

    from abcgen.render import jobs     # the jobs (music21, verovio) load in the worker only

    warnings.filterwarnings("ignore")
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    conn = Connection(fd)
    jobs.prepare()
    conn.send("ready")
    while True:
        try:
            name, args = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", jobs.JOBS[name](*args)))
        except RenderError as exc:
            conn.send(("error", str(exc)))
        except MemoryError:
            conn.send(("error", f"The tune needs more than {MEMORY_LIMIT / 2**30:g} GB of memory to convert; "
                                "shorten it or split it into several tunes."))
            return  # a process that ran out of memory may be in a bad way: a fresh one replaces it
        except Exception as exc:
            from abcgen.render.notation import plain_error

            conn.send(("error", f"The conversion failed unexpectedly ({plain_error(exc)})."))


def _proc_stat(pid: int) -> tuple[str, float] | None:
    """(state letter, CPU seconds used) of a process, from /proc; None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Lost(Exception):
    """The worker went away without a crash of its own (killed from outside, exited)."""


class Worker:
    """A worker process and the pipe to it.

    A plain subprocess rather than multiprocessing: a spawned multiprocessing child
    re-runs the parent's main script, which would start a second app in a program
    whose top-level code is not guarded by `if __name__ == "__main__"`.
    """

    def __init__(self):
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[2])
        env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",  # one job, one CPU: no thread pools
               **os.environ,
               "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from abcgen.render.worker import serve; serve({theirs.fileno()})"],
            pass_fds=[theirs.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # music21's chatter must not mix with the caller's output
            stderr=subprocess.DEVNULL,
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        _live.add(self)
        try:
            ready = self.conn.poll(START_TIMEOUT) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise RenderError(f"The converter process did not start (exit status {self.process.returncode}).")

    def usable(self) -> bool:
        """Alive and not stopped (a stopped process would take jobs and never answer)."""
        stat = _proc_stat(self.process.pid)
        return self.process.poll() is None and (stat is None or stat[0] not in "TtZX")

    def ask(self, name: str, args: tuple, deadline: float, allowed: float):
        """Run one job; ("ok", value) or ("error", message). Raises RenderError on a timeout or
        a crash, _Lost when the worker went away for another reason."""
        before = _proc_stat(self.process.pid)
        started = time.monotonic()
        try:
            self.conn.send((name, args))
            if self.conn.poll(max(0.0, deadline - time.monotonic())):
                return self.conn.recv()
        except (EOFError, OSError):
            try:
                code = self.process.wait(timeout=5)  # the pipe closes as the process ends
            except subprocess.TimeoutExpired:
                code = None
            if code is not None and code < 0 and -code in CRASH_SIGNALS:
                raise RenderError(f"The converter crashed on this tune ({signal.Signals(-code).name}); "
                                  "check the ABC for errors.") from None
            raise _Lost() from None
        ran = time.monotonic() - started
        after = _proc_stat(self.process.pid)
        starved = before is not None and after is not None and (
            after[0] in "Tt" or (ran >= 1.0 and after[1] - before[1] < 0.05 * ran))
        if starved or ran < allowed / 2:
            raise RenderError(f"{BUSY} (the converter could work on this tune for {ran:.1f} s "
                              f"of the {allowed:.3g} s allowed).")
        raise RenderError(f"This tune took longer than {allowed:.3g} s to convert and was stopped; "
                          "it may be too long or malformed.")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        try:
            self.conn.close()
        except OSError:
            pass  # closed already: a worker being started is stopped by one thread as another gives up on it
        _live.discard(self)


_live: set[Worker] = set()


@atexit.register
def stop_workers() -> None:
    """A worker busy with a pathological tune must not outlive the program."""
    for worker in list(_live):
        worker.kill()


class Pool:
    """Up to `size` workers, started in the background when needed, handed out in turn."""

    def __init__(self, size: int):
        self.size = size
        self.idle: list[Worker] = []  # most recently used last, so one-at-a-time use keeps to one process
        self.busy = 0
        self.starting = 0
        self.start_error: str | None = None
        self.held: collections.Counter = collections.Counter()  # client -> workers held
        self.waiting: collections.deque = collections.deque()  # (ticket, client), first come first
        self.cond = threading.Condition()

    def _start(self) -> None:
        """Start a worker in a background thread; it joins the idle list when ready."""
        self.starting += 1

        def run():
            try:
                worker, error = Worker(), None
            except Exception as exc:  # the starting count must go down whatever happened
                worker = None
                error = str(exc) if isinstance(exc, RenderError) else f"The converter process did not start ({exc})."
            with self.cond:
                self.starting -= 1
                if worker:
                    self.idle.append(worker)
                self.start_error = error
                self.cond.notify_all()

        threading.Thread(target=run, daemon=True, name="abcgen-worker-start").start()

    def _first_in_turn(self):
        """The ticket served next: the first waiting caller whose client holds no worker."""
        for ticket, client in self.waiting:
            if client is None or not self.held[client]:
                return ticket
        return None

    def acquire(self, client: str | None, deadline: float, allowed: float) -> Worker:
        ticket = object()
        with self.cond:
            self.waiting.append((ticket, client))
            try:
                while True:
                    if self._first_in_turn() is ticket:
                        while self.idle and not self.idle[-1].usable():
                            self.idle.pop().kill()  # died or was stopped while idle
                        if self.idle:
                            self.busy += 1
                            self.held[client] += 1
                            return self.idle.pop()
                        if self.start_error and not self.starting:
                            error, self.start_error = self.start_error, None
                            raise RenderError(error)
                        if self.busy + self.starting < self.size:
                            self._start()
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise RenderError(f"{BUSY} (no converter was free within {allowed:.3g} s).")
                    self.cond.wait(remaining)
            finally:
                self.waiting.remove((ticket, client))
                self.cond.notify_all()

    def release(self, worker: Worker, client: str | None, reuse: bool) -> None:
        """Give a worker back; one that cannot be reused is killed and replaced."""
        if not reuse:
            worker.kill()
        with self.cond:
            self.busy -= 1
            self.held[client] -= 1
            if self.held[client] <= 0:
                del self.held[client]
            if reuse:
                self.idle.append(worker)
            elif self.busy + self.starting + len(self.idle) < self.size:
                self._start()  # restarted now, so the next caller does not wait for it
            self.cond.notify_all()

    def warm_up(self, count: int | None = None) -> None:
        """Start workers now (up to `count`, default all) and wait until they are ready."""
        with self.cond:
            wanted = min(self.size, count or self.size)
            while len(self.idle) + self.busy + self.starting < wanted:
                self._start()
            deadline = time.monotonic() + START_TIMEOUT
            while self.starting and time.monotonic() < deadline:
                self.cond.wait(deadline - time.monotonic())
            if self.start_error and not self.idle:
                error, self.start_error = self.start_error, None
                raise RenderError(error)


_pool: Pool | None = None
_pool_lock = threading.Lock()


def pool() -> Pool:
    """The process's pool, made on first use with POOL_SIZE workers."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = Pool(POOL_SIZE)
        return _pool


def check_timeout(timeout) -> float:
    """The bound in seconds; refuses a bound that is no bound.

    The pipe's poll fails on inf, NaN and huge values, and a bound of zero or less
    would report a timeout that never happened.
    """
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        raise RenderError(f"The time limit must be a number of seconds, not {timeout!r}.") from None
    if not 0 < seconds <= MAX_TIMEOUT:  # also false for NaN
        raise RenderError(f"The time limit must be more than 0 and at most {MAX_TIMEOUT:g} seconds, not {timeout!r}.")
    return seconds


def call(name: str, args: tuple, timeout: float, client: str | None = None):
    """Run job `name` on a worker within `timeout` seconds in all; its value, or RenderError.

    A worker that went away before answering (killed from outside) is replaced and
    the job tried once more on a fresh one, if time is left.
    """
    allowed = check_timeout(timeout)
    deadline = time.monotonic() + allowed
    workers = pool()
    for attempt in (1, 2):
        worker = workers.acquire(client, deadline, allowed)
        reuse = False
        try:
            status, value = worker.ask(name, args, deadline, allowed)
            reuse = worker.usable()
        except _Lost:
            if attempt == 1 and time.monotonic() < deadline:
                continue
            raise RenderError(f"{BUSY} (the converter stopped while working on it).") from None
        finally:
            workers.release(worker, client, reuse)
        if status == "error":
            raise RenderError(value)
        return value
