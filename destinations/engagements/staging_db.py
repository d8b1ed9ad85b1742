"""Opening the DuckDB staging file: late, briefly, and with a clear message when it is locked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from sources.errors import ConfigError, StagingLockedError

_PID = re.compile(r"PID (\d+)")


SCHEMA = "engagements"
DEFAULT_STAGING = "engagement-sync.duckdb"


def check_name(path: str | Path) -> None:
    """DuckDB names a file's catalog after its stem: `engagements.duckdb` would make every
    `engagements.<table>` ambiguous (catalog or schema?), in our SQL, dlt's and the user's."""
    if Path(path).stem.lower() == SCHEMA:
        raise ConfigError(
            f"a staging file named {Path(path).name} clashes with its DuckDB schema "
            f"{SCHEMA!r} (every {SCHEMA}.<table> would be ambiguous); pick another "
            f"name, e.g. --staging {DEFAULT_STAGING}"
        )


def connect(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-write connection; StagingLockedError naming the holder's PID when locked."""
    check_name(path)
    try:
        return duckdb.connect(str(path))
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" not in text.lower():
            raise
        match = _PID.search(text)
        holder = f"process {match.group(1)}" if match else "another process"
        raise StagingLockedError(
            f"the staging file {path} is in use by {holder}; wait for it to finish "
            "(or close the DuckDB shell that has it open) and run again"
        ) from None


@contextmanager
def opened(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open, yield, and always close, so other tools can open the file between steps."""
    con = connect(path)
    try:
        yield con
    finally:
        con.close()


def table_exists(con: duckdb.DuckDBPyConnection, name: str, schema: str = "engagements") -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])
