"""The app started as a user starts it (`python app.py`, or a few lines of launch code around it) on a
free loopback port, for the benchmarks and the tests alike: one way to start it, to wait until it
answers and to stop it."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 300   # importing, loading the model and starting the converters, on a busy CPU


@dataclass(frozen=True)
class Served:
    """A started app: its URL and process, its working folder (file cache in `cache`, log in `log`)
    and the checkpoint it serves (None: the shipped one)."""
    url: str
    proc: subprocess.Popen
    workdir: Path
    checkpoint: Path | None

    @property
    def cache(self) -> Path:
        return self.workdir / "cache"

    @property
    def log(self) -> Path:
        return self.workdir / "app.log"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def rss_mb(self) -> float | None:
        """The app process's resident memory in MB (None once it has gone)."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(checkpoint: Path | None, workdir: Path, code: str | None = None, env: dict | None = None,
                timeout: float = START_TIMEOUT) -> Iterator[Served]:
    """Start the app (`python app.py`, or `python -c code`) in `workdir` with `env` added to the
    environment, its file cache in workdir/cache and its log in workdir/app.log; yield it once it
    answers, and stop it afterwards. The working folder is the caller's own, so anything the app
    writes there is seen and nothing is left in the repository."""
    port = free_port()
    full_env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
                "GRADIO_TEMP_DIR": str(workdir / "cache"), "GRADIO_ANALYTICS_ENABLED": "False",
                "PYTHONPATH": str(ROOT), **({"ABCGEN_CHECKPOINT": str(checkpoint)} if checkpoint else {}),
                **(env or {})}
    command = [sys.executable, str(ROOT / "app.py")] if code is None else [sys.executable, "-c", code]
    with open(workdir / "app.log", "w") as log:
        proc = subprocess.Popen(command, cwd=workdir, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    served = Served(f"http://127.0.0.1:{port}", proc, workdir, checkpoint)
    try:
        wait_until_answering(served, timeout)
        yield served
    finally:
        stop(proc)


def wait_until_answering(served: Served, timeout: float) -> None:
    """Wait for the page to answer; a clear error with the app's log if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while True:
        if served.proc.poll() is not None:
            raise RuntimeError(f"the app exited with {served.proc.returncode}:\n{served.log.read_text()[-3000:]}")
        try:
            if httpx.get(served.url + "/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the app did not answer within {timeout:.0f} s:\n{served.log.read_text()[-3000:]}")
        time.sleep(0.5)


def stop(proc: subprocess.Popen) -> None:
    """Stop the app as Ctrl-C does: SIGTERM ends an idle server at once; where a client still holds a
    stream open (gradio_client's heartbeat), a SIGINT after it makes the server close it and exit
    rather than wait for it (a second Ctrl-C), still running the app's own shutdown."""
    proc.terminate()
    try:
        proc.wait(3)
        return
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
