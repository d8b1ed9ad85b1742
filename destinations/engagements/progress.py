"""Progress of a long push: a live line on a terminal, a plain log line now and then otherwise."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TextIO

log = logging.getLogger("engagement_sync.progress")


class Progress:
    """Counts finished records; thread-safe. Prints to stderr so --json stdout stays clean."""

    def __init__(
        self, label: str, total: int, stream: TextIO | None = None, every_s: float | None = None
    ) -> None:
        self.label, self.total = label, total
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.every_s = every_s if every_s is not None else (0.5 if self.live else 10.0)
        self.done = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last = self._started

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if now - self._last >= self.every_s or self.done == self.total:
                self._last = now
                self._print(now)

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._started, 1e-9)
        rate = self.done / elapsed
        left = max(self.total - self.done, 0)
        eta = f"{left / rate:.0f} s" if rate > 0 else "?"
        return f"{self.label}: {self.done}/{self.total} records ({rate:.1f}/s), ETA {eta}"

    def close(self) -> None:
        if self.live and self.done:
            self.stream.write("\n")
            self.stream.flush()

    def _print(self, now: float) -> None:
        if self.live:
            self.stream.write("\r" + self.line(now).ljust(70))
            self.stream.flush()
        else:  # a log line: text or JSON, as --log-format says
            log.info(self.line(now), extra={"target": self.label, "done": self.done})
