"""One run at a time per staging file: an advisory lock on `<staging>.lock` holding the PID.

DuckDB itself allows one writer process, but a run opens the file only while a step writes, so
two runs could interleave their steps. The lock spans the whole run; a second run exits with
code 3 naming the PID that holds it. The kernel drops the lock when the process dies (SIGKILL
too), so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sources.errors import StagingLockedError


def lock_path(staging: Path) -> Path:
    return staging.resolve().with_name(staging.name + ".lock")


def holder(staging: Path) -> int | None:
    """PID of the run holding the lock, or None when no run holds it."""
    path = lock_path(staging)
    if not path.exists():
        return None
    with open(path) as fh:  # read-only: flock needs no write access (a read-only staging)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = fh.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fh, fcntl.LOCK_UN)
        return None


@contextmanager
def run_lock(staging: Path) -> Iterator[None]:
    """Hold the staging's run lock for the duration; StagingLockedError if another run has it."""
    path = lock_path(staging)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            pid = fh.read().strip() or "unknown"
            raise StagingLockedError(
                f"another engagement-sync run (PID {pid}) is using {staging}; wait for it to "
                "finish, or stop it (pending work stays pending) and run again"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
