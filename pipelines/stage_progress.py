"""Progress while staging: files and rows read, rows/s and an ETA, for each job.

On a terminal a live line on stderr (redrawn twice a second); otherwise a log line every few
seconds (text or JSON, as --log-format says), so a cron log shows a long stage is alive. The
source tells it what it read (sources/exports: per file, and per CSV block of a streamed
file, rows counted by Arrow, never row by row). The ETA is that of reading, from the bytes
read of the bytes listed; mapping and loading a partition follow its reading.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger("engagement_sync.progress")


class StageProgress:
    """What one job's stage has read so far; thread-safe."""

    def __init__(
        self,
        job: str,
        stream: TextIO | None = None,
        every_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job = job
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.every_s = every_s if every_s is not None else (0.5 if self.live else 5.0)
        self.clock = clock
        self.files = self.files_total = self.rows = self.bytes = self.bytes_total = 0
        self._lock = threading.Lock()
        self._started = self._last = clock()
        self._shown = False

    def begin(self, files: int, nbytes: int) -> None:
        with self._lock:
            self.files_total += files
            self.bytes_total += nbytes

    def read(self, rows: int, nbytes: int, files: int = 0) -> None:
        with self._lock:
            self.rows += rows
            self.bytes += nbytes
            self.files += files
            now = self.clock()
            if now - self._last >= self.every_s:
                self._last = now
                self._show(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now if now is not None else self.clock()) - self._started, 1e-9)
        left = max(self.bytes_total - self.bytes, 0)
        eta = f"{elapsed * left / self.bytes:.0f} s" if self.bytes else "?"
        return (
            f"stage {self.job}: {self.files}/{self.files_total} files, {self.rows} rows read "
            f"({self.rows / elapsed:.0f} rows/s), {_mb(self.bytes)}/{_mb(self.bytes_total)} MB, "
            f"ETA {eta}"
        )

    def close(self) -> None:
        """The last line (a log line only when one was shown: a quick stage stays quiet)."""
        with self._lock:
            if self._shown:
                self._show(self.line())
            if self.live and self._shown:
                self.stream.write("\n")
                self.stream.flush()

    def _show(self, text: str) -> None:
        self._shown = True
        if self.live:
            self.stream.write("\r" + text.ljust(80))
            self.stream.flush()
        else:
            fields = {"job": self.job, "files": self.files, "rows": self.rows, "bytes": self.bytes}
            log.info(text, extra=fields)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}"
