"""A log that cannot outgrow its budget, whatever a client sends.

Every record goes through `Bounded`: a long message (a 250 KB field value, a deep traceback) is cut to
`max_chars`; the same message again and again is written `repeats` times a minute, then counted and
summarized once the minute is over; and past `per_minute` bytes in a minute the rest is counted, not
written. What the web framework prints on stderr (its tracebacks) is turned into records too, so it
meets the same bounds. With a file, the log is rotated at `file_mb` and `backups` old files are kept.
"""
from __future__ import annotations

import io
import logging
import logging.handlers
import sys
import threading
import time
from collections import Counter

FORMAT = "%(asctime)s %(name)s: %(message)s"
OVERHEAD = 60   # bytes the format adds to a line, counted against the budget


class Bounded(logging.Filter):
    """Cuts, summarizes and rations records; see the module docstring."""

    def __init__(self, max_chars: int = 2000, repeats: int = 3, per_minute: int = 200_000,
                 clock=time.monotonic):
        super().__init__()
        self.max_chars, self.repeats, self.per_minute, self.clock = max_chars, repeats, per_minute, clock
        self._lock = threading.Lock()
        self._minute = clock()
        self._seen: Counter[str] = Counter()
        self._written = 0
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        text = self._cut(record.getMessage())
        if record.exc_info:
            text += "\n" + self._cut(logging.Formatter().formatException(record.exc_info), tail=True)
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = text, ()
        with self._lock:
            summary = self._roll()
            key = f"{record.name}:{text[:120]}"
            self._seen[key] += 1
            cost = len(text) + OVERHEAD
            keep = self._seen[key] <= self.repeats and self._written + cost <= self.per_minute
            if keep:
                self._written += cost
            else:
                self._dropped += 1
        if summary:
            record.msg = f"{summary}\n{record.msg}"
        return keep or bool(summary)

    def _cut(self, text: str, tail: bool = False) -> str:
        if len(text) <= self.max_chars:
            return text
        left = len(text) - self.max_chars
        if tail:   # a traceback: its end says what went wrong
            return f"[{left} characters cut] " + text[-self.max_chars:]
        return text[:self.max_chars] + f" [{left} characters cut]"

    def _roll(self) -> str:
        """At a new minute: a line on what the last one left out, and fresh counts."""
        now = self.clock()
        if now - self._minute < 60:
            return ""
        repeated = sum(n - self.repeats for n in self._seen.values() if n > self.repeats)
        line = (f"[log: {self._dropped} lines left out in the last minute, {repeated} of them repeats]"
                if self._dropped else "")
        self._minute, self._written, self._dropped = now, 0, 0
        self._seen.clear()
        return line


class ToLog(io.TextIOBase):
    """A stream whose lines become log records (for what libraries print on stderr)."""

    def __init__(self, logger: logging.Logger, level: int = logging.WARNING, max_buffer: int = 100_000):
        self.logger, self.level, self.max_buffer = logger, level, max_buffer
        self._buffer = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._buffer = (self._buffer + text)[-self.max_buffer:]
            *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            if line.strip():
                self.logger.log(self.level, line)
        return len(text)

    def flush(self) -> None:
        pass


def install(path=None, file_mb: float = 10.0, backups: int = 2, **bounds) -> logging.Handler:
    """Log INFO and above through one bounded handler (to `path`, rotated, or to stderr as it was),
    and send stderr through it too. Returns the handler."""
    if path:
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=int(file_mb * 1024 * 1024),
                                                       backupCount=backups, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.__stderr__)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(Bounded(**bounds))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    sys.stderr = ToLog(logging.getLogger("stderr"))
    return handler
