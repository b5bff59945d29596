"""The files the app hands out (sheet music, MIDI, ABC, MusicXML, audio, tune books), kept in one
folder that cannot fill the disk.

Each tune gets a fresh folder under the root, written for one client (an address). Folders older
than `max_age_s` are removed. A client's writes count against its own `share` of the budget: past it,
that client's own oldest folders go first. When all files together would pass `budget` bytes, the
oldest folders go, but never another client's folder younger than `keep_s` (the lifetime promised for
a file handed out): then the writer is told the store is busy (`StoreBusy`) instead. The root belongs to one running
app: a lock file says so, and an app that takes the lock at start knows that whatever is there was
left by a run that died (killed, crashed, power cut) and removes it. A full disk becomes `DiskFull`,
whose message a visitor can read, and never leaves half-written files behind.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import secrets
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

MB = 1024 * 1024
LOCK_NAME = ".lock"
SCRATCH = "tmp"   # the app's temporary files (what tempfile makes); their makers remove them
# What a full disk (or a full quota, or a file-size limit) looks like to a writer.
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class DiskFull(RuntimeError):
    """The server has no room for a tune's files."""

    def __init__(self, what: str = "the files for this tune"):
        super().__init__(f"the server's disk is full, so {what} could not be written; "
                         "try again in a few minutes")


class StoreBusy(DiskFull):
    """Every byte of the budget holds files other visitors were promised for a while yet."""

    def __init__(self):
        RuntimeError.__init__(self, "the server is keeping many visitors' tunes just now, so the files for "
                                    "this tune could not be written; try again in a few minutes")


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, DiskFull) or (isinstance(exc, OSError) and exc.errno in FULL_ERRNOS)


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe lower-case version of a title."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:limit].rstrip("-")


def _size_and_time(path: Path) -> tuple[int, float]:
    """Bytes under `path` and the newest modification time there (0 when it is gone)."""
    try:
        if not path.is_dir():
            st = path.stat()
            return st.st_size, st.st_mtime
        total, newest = 0, path.stat().st_mtime
        for folder, _, names in os.walk(path):
            for name in names:
                try:
                    st = os.stat(os.path.join(folder, name))
                except OSError:
                    continue
                total += st.st_size
                newest = max(newest, st.st_mtime)
        return total, newest
    except OSError:
        return 0, 0.0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    """Write to a hidden name beside `path`, then rename: nobody is handed half a file, and a write
    that fails (a full disk) leaves nothing behind."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Store:
    """The root folder and what is in it: top-level entries, each with its size and age."""

    def __init__(self, root, budget: int = 200 * MB, max_age_s: float = 1800.0, rescan_s: float = 60.0,
                 share: int | None = None, keep_s: float = 0.0):
        self.root = Path(root)
        self.budget = int(budget)
        self.share = int(budget if share is None else share)   # bytes one client's folders may hold
        self.keep_s = float(keep_s)                            # another client's folder is kept this long
        self.max_age_s = float(max_age_s)
        self.rescan_s = float(rescan_s)
        self._lock = threading.RLock()
        self._entries: dict[str, list] = {}   # name -> [time, bytes, client], oldest first
        self._scanned = 0.0
        self._lock_fd: int | None = None
        self._busy: set[str] = set()           # folders being written: never swept

    # ------------------------------------------------------------------ lifetime

    def open(self) -> "Store":
        """Take the root for this run; remove what a dead run left there."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            owner = True
        except OSError:
            owner = False
            log.warning("%s is in use by another running app; its files are left alone", self.root)
        self._lock_fd = fd
        if owner:
            for entry in self.root.iterdir():
                if entry.name != LOCK_NAME:
                    _remove(entry)
        self.scratch.mkdir(exist_ok=True)
        self.sweep(rescan=True)
        return self

    @property
    def scratch(self) -> Path:
        """A folder for temporary files: counted in the budget, never swept while the app runs
        (whoever makes a temporary file removes it), emptied at the next start."""
        return self.root / SCRATCH

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def sweep_every(self, interval_s: float) -> threading.Thread:
        """Sweep in the background too, so old files go even while nobody composes."""
        def loop():
            while self._lock_fd is not None:
                time.sleep(interval_s)
                try:
                    self.sweep(rescan=True)
                except Exception:  # a sweep must never stop the sweeper
                    log.exception("sweeping %s failed", self.root)
        thread = threading.Thread(target=loop, name="file-sweeper", daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------------------------ accounting

    def used(self) -> int:
        """Bytes in the root, as last counted."""
        with self._lock:
            return sum(entry[1] for entry in self._entries.values())

    def _rescan(self) -> None:
        """Count the root afresh: files written by others (the web server's own) count too."""
        found = {}
        self.root.mkdir(parents=True, exist_ok=True)
        for entry in self.root.iterdir():
            if entry.name != LOCK_NAME:
                size, mtime = _size_and_time(entry)
                known = self._entries.get(entry.name)
                found[entry.name] = [min(known[0], mtime), size, known[2]] if known else [mtime, size, None]
        self._entries = dict(sorted(found.items(), key=lambda item: item[1][0]))
        self._scanned = time.monotonic()

    def sweep(self, rescan: bool = False, room: int = 0, client: str | None = None) -> None:
        """Remove entries older than max_age_s; then, to fit `room` more bytes for `client`, that
        client's oldest past its share and the oldest of all past the budget, sparing other clients'
        folders younger than keep_s (StoreBusy when that is not enough). Folders still being written
        are never removed."""
        with self._lock:
            if rescan or time.monotonic() - self._scanned > self.rescan_s:
                self._rescan()
            now = time.time()
            for name, (made, _, _) in list(self._entries.items()):
                if now - made > self.max_age_s and self._removable(name):
                    self._drop(name)
            mine = [n for n, e in self._entries.items() if e[2] == client and self._removable(n)]
            held = sum(self._entries[n][1] for n in mine)
            for name in mine:
                if held + room <= self.share:
                    break
                held -= self._drop(name)
            total = sum(entry[1] for entry in self._entries.values())
            for name, (made, _, owner) in list(self._entries.items()):
                if total + room <= self.budget:
                    break
                if self._removable(name) and (owner == client or now - made > self.keep_s):
                    total -= self._drop(name)
            if total + room > self.budget and room:
                raise StoreBusy()

    def _removable(self, name: str) -> bool:
        return name not in self._busy and name != SCRATCH

    def _drop(self, name: str) -> int:
        """Remove one entry; its bytes."""
        _remove(self.root / name)
        return self._entries.pop(name)[1]

    # ------------------------------------------------------------------ writing

    @contextmanager
    def folder(self, client: str | None = None):
        """A fresh, empty folder for one tune's files (written for `client`), to fill with `write`
        inside the `with`. If filling it fails, the folder goes: no half set of files is handed out."""
        self.sweep(client=client)
        name = f"t{time.strftime('%H%M%S')}-{secrets.token_hex(6)}"
        path = self.root / name
        try:
            path.mkdir()
        except OSError as exc:
            if exc.errno in FULL_ERRNOS:
                raise DiskFull() from None
            raise
        with self._lock:
            self._entries[name] = [time.time(), 0, client]
            self._busy.add(name)
        try:
            yield path
        except BaseException:
            self.discard(path)
            raise
        finally:
            with self._lock:
                self._busy.discard(name)

    def write(self, folder: Path, name: str, data: bytes) -> Path:
        """Write one file into a folder from `folder()`, making room first."""
        entry = folder.relative_to(self.root).parts[0]
        if len(data) > self.budget:
            raise DiskFull(f"a file of {len(data) // MB} MB (more than the space allowed)")
        with self._lock:
            client = self._entries.get(entry, [0, 0, None])[2]
        self.sweep(room=len(data), client=client)
        path = folder / name
        try:
            write_bytes(path, data)
        except OSError as exc:
            if exc.errno in FULL_ERRNOS:
                raise DiskFull() from None
            raise
        with self._lock:
            if entry in self._entries:
                self._entries[entry][1] += len(data)
            else:  # swept away meanwhile by another request's sweep: count it again
                self._entries[entry] = [time.time(), len(data), client]
        return path

    def discard(self, folder: Path) -> None:
        """Remove a folder whose files will not be handed out after all."""
        entry = folder.relative_to(self.root).parts[0]
        with self._lock:
            self._entries.pop(entry, None)
        _remove(self.root / entry)
