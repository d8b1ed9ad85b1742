"""Checkpoints of a bucket staging during a long push: the file uploaded every N seconds or
records, so a machine that dies mid-push loses at most that much of the ledger.

The copy is taken through the running ledger (`Ledger.snapshot`): its write lock held, after a
DuckDB CHECKPOINT, so the file is whole and consistent although the push goes on writing. Only
a push writes for long; between pushes (staging, the end of a run) there is nothing to
checkpoint, and the final upload happens once every connection is closed.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from destinations.engagements.ledger import open_ledgers

POLL = 0.2  # seconds between looks at the ledgers' row counts (a cheap attribute read)
log = logging.getLogger(__name__)


class Checkpointer:
    """Uploads a consistent copy of `local` with `upload` when a push has written `records`
    records (two ledger rows each) or `seconds` have passed since the last one."""

    def __init__(
        self, local: Path, upload: Callable[[Path], None], seconds: float, records: int
    ) -> None:
        self._local, self._upload = local, upload
        self._seconds, self._rows = seconds, 2 * records
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="staging-checkpoints", daemon=True)
        self._last_at, self._last_rows = time.monotonic(), 0
        self.done = 0
        self.paused = False  # set when the lease is lost: never upload over another machine

    def __enter__(self) -> Checkpointer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def checkpoint(self) -> bool:
        """Copy and upload now, if a push is under way; True when a checkpoint was uploaded."""
        ledgers = open_ledgers()
        if not ledgers or self.paused:
            return False
        copy = self._local.with_name(self._local.name + ".checkpoint")
        try:
            ledgers[0].snapshot(lambda: shutil.copyfile(self._local, copy))
        except duckdb.Error:  # the push closed its ledger meanwhile: the final upload follows
            return False
        try:
            self._upload(copy)
        finally:
            copy.unlink(missing_ok=True)
        self.done += 1
        return True

    def _run(self) -> None:
        while not self._stop.wait(POLL):
            rows = sum(ledger.rows_written for ledger in open_ledgers())
            if rows < self._last_rows:  # a new push (the next target) started counting again
                self._last_rows = 0
            due = time.monotonic() - self._last_at >= self._seconds
            if not (due or rows - self._last_rows >= self._rows):
                continue
            try:
                if self.checkpoint():
                    self._last_rows = rows
            except OSError as exc:  # the bucket is unreachable now: the next one tries again
                log.warning("staging checkpoint not uploaded (%s); the run goes on", exc)
            self._last_at = time.monotonic()
