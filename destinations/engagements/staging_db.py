"""Opening the DuckDB staging file: late, briefly, and with one clear line when it cannot be:
locked by another process (exit 3, wait), damaged (exit 1, recover), or read-only (exit 1)."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from sources.errors import (
    ConfigError,
    StagingDamagedError,
    StagingLockedError,
    StagingReadOnlyError,
    StopRunError,
)

_PID = re.compile(r"PID (\d+)")

SCHEMA = "engagements"
DEFAULT_STAGING = "engagement-sync.duckdb"

# DuckDB's own words (1.5): its lock error, and what it says of a file it cannot read. Whole
# phrases, never a bare "lock": "Corrupt database file: … in block at location N" holds "lock".
LOCKED = ("Could not set lock on file", "Conflicting lock is held")
DAMAGED = (
    "not a valid DuckDB database file",
    "Corrupt database file",
    "Could not read enough bytes from file",
    "database has been invalidated",
    "Failure while replaying WAL",
)
READ_ONLY = ("Permission denied", "Read-only file system")


# Two pushes of one process (v1 and v2 at once) share the file through their own connections.
# DuckDB lets their inserts run side by side, but not two schema changes (CREATE OR REPLACE
# VIEW: "Catalog write-write conflict"), nor a CHECKPOINT while another connection writes.
schema_lock = threading.RLock()
_OTHERS_WRITING = "there are other write transactions active"


def checkpoint(con: duckdb.DuckDBPyConnection) -> bool:
    """CHECKPOINT unless another connection of this process is writing (then the last one to
    finish checkpoints, and DuckDB does on the last close; the WAL keeps everything meanwhile).
    Returns whether it checkpointed."""
    with schema_lock:
        try:
            con.execute("CHECKPOINT")
        except duckdb.TransactionException as exc:
            if _OTHERS_WRITING not in str(exc):
                raise
            return False
    return True


def check_name(path: str | Path) -> None:
    """DuckDB names a file's catalog after its stem: `engagements.duckdb` would make every
    `engagements.<table>` ambiguous (catalog or schema?), in our SQL, dlt's and the user's."""
    if Path(path).stem.lower() == SCHEMA:
        raise ConfigError(
            f"a staging file named {Path(path).name} clashes with its DuckDB schema "
            f"{SCHEMA!r} (every {SCHEMA}.<table> would be ambiguous); pick another "
            f"name, e.g. --staging {DEFAULT_STAGING}"
        )


def connect(
    path: str | Path, read_only: bool = False, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection (read-write unless `read_only`); a locked, damaged or read-only file is a
    StopRunError with one line saying what to do."""
    check_name(path)
    if read_only and not Path(path).exists():
        raise ConfigError(f"no staging file at {path}; run `engagement-sync stage` first")
    try:
        # One spelling of the file per process: DuckDB caches a database by the path given, and
        # two spellings of one file open at once (a relative and an absolute one: two pushes
        # side by side) are refused as "already attached".
        where = str(Path(path).resolve())
        return duckdb.connect(where, read_only=read_only, config=config or {})
    except duckdb.Error as exc:
        found = problem(path, exc, opening=True)
        if found is None:
            raise
        raise found from None


@contextmanager
def opened(
    path: str | Path, read_only: bool = False, config: dict[str, Any] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open, yield, and always close, so other tools can open the file between steps. A block
    found damaged while reading is reported like a file that cannot be opened."""
    con = connect(path, read_only, config)
    try:
        yield con
    except duckdb.Error as exc:
        found = problem(path, exc)
        if found is None:
            raise
        raise found from None
    finally:
        con.close()


def problem(path: str | Path, exc: BaseException, opening: bool = False) -> StopRunError | None:
    """The staging-level meaning of `exc` (or of any exception it wraps, e.g. dlt's
    PipelineStepFailed around DuckDB's error): locked, damaged, read-only; None otherwise."""
    for text in _texts(exc):
        if any(marker in text for marker in LOCKED):
            return _locked(path, text)
        found = next((m for m in DAMAGED if m in text), None)
        if found is not None:  # DuckDB's words, not those of a wrapper around them
            return damaged(path, text[text.index(found) :].splitlines()[0])
        mine = opening or str(Path(path).name) in text
        if mine and any(marker in text for marker in READ_ONLY):
            return read_only_error(path)
    return None


def damaged(path: str | Path, detail: str) -> StagingDamagedError:
    detail = " ".join(detail.split())[:160]
    return StagingDamagedError(
        f"the staging file {path} is damaged ({detail}); move it aside (mv {path} "
        f"{path}.damaged), rebuild the delivery state from the destination with "
        "`engagement-sync reconcile`, then stage again"
    )


def read_only_error(path: str | Path) -> StagingReadOnlyError:
    return StagingReadOnlyError(
        f"the staging file {path} is read-only (the file or its folder cannot be written); "
        "`status`, `explain` and `sql` can read it; to stage, push or purge, make both "
        "writable or copy the file somewhere writable and pass --staging"
    )


def writable(path: str | Path) -> bool:
    """Whether the file and its folder (for the .wal, the run lock, purge's copy) take writes."""
    file = Path(path).resolve()
    if file.exists() and not os.access(file, os.W_OK):
        return False
    return not file.parent.exists() or os.access(file.parent, os.W_OK)


def check_writable(path: str | Path) -> None:
    """Refuse up front to write into a staging that cannot be written (not half-way)."""
    if not writable(path):
        raise read_only_error(path)


def _locked(path: str | Path, text: str) -> StagingLockedError:
    match = _PID.search(text)
    holder = f"process {match.group(1)}" if match else "another process"
    return StagingLockedError(
        f"the staging file {path} is in use by {holder}; wait for it to finish "
        "(or close the DuckDB shell that has it open) and run again"
    )


class DamageLogFilter(logging.Filter):
    """Drops dlt's log records about a damaged staging (a traceback per retry of a load job,
    then 'package was not fully loaded'): the run ends with the one line saying what to do."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else getattr(record, "exc_value", None)
        message = record.getMessage()
        said = message + (record.exc_text or "")  # exc_text: already formatted (redact.py)
        if any(marker in said for marker in DAMAGED) or (
            error is not None and isinstance(problem("", error), StagingDamagedError)
        ):
            self.seen = True
            return False
        return not (self.seen and "was not fully loaded" in message)


def quiet_damage_in_dlt_logs() -> None:
    logger = logging.getLogger("dlt")
    if not any(isinstance(f, DamageLogFilter) for f in logger.filters):
        logger.addFilter(DamageLogFilter())


def _texts(exc: BaseException) -> Iterator[str]:
    """The messages of `exc` and every exception it was raised from or wraps."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield str(current)
        inner = getattr(current, "exception", None)
        todo += [current.__cause__, current.__context__]
        todo += [inner] if isinstance(inner, BaseException) else []


def table_exists(con: duckdb.DuckDBPyConnection, name: str, schema: str = "engagements") -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])
