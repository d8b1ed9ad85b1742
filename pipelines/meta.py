"""The staging file's schema version: migrate an older file in place, refuse a newer one.

Version 1: the first released layout (ledger with `operation`, `runs`, `jobs`, views).
A file without the meta table but with a ledger is version 0 (made before versions existed).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from destinations.engagements.ledger import ensure_ledger
from destinations.engagements.staging_db import table_exists
from sources.errors import ConfigError

SCHEMA_VERSION = 1

RUNS_DDL = """
CREATE TABLE IF NOT EXISTS engagements.runs (
    run_id VARCHAR, command VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
    exit_code INTEGER, error VARCHAR, summary JSON
);
CREATE TABLE IF NOT EXISTS engagements.jobs (
    job VARCHAR, preset VARCHAR, prefix VARCHAR, settings_hash VARCHAR, updated_at TIMESTAMPTZ
);
"""


def _v0_to_v1(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("ALTER TABLE engagements.deliveries ADD COLUMN IF NOT EXISTS operation VARCHAR")


MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {0: _v0_to_v1}


def schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The file's version; None for a new, empty file."""
    if table_exists(con, "_meta"):
        row = con.execute(
            "SELECT value FROM engagements._meta WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0]) if row else None
    return 0 if table_exists(con, "deliveries") else None


def ensure_schema(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Bring the staging to SCHEMA_VERSION (migrating an older file); refuse a newer one."""
    version = schema_version(con)
    if version is not None and version > SCHEMA_VERSION:
        raise ConfigError(
            f"{path} was written by a newer engagement-sync (staging schema {version}, this one "
            f"knows {SCHEMA_VERSION}); upgrade engagement-sync to use it"
        )
    con.execute("CREATE SCHEMA IF NOT EXISTS engagements")
    for step in range(version if version is not None else SCHEMA_VERSION, SCHEMA_VERSION):
        MIGRATIONS[step](con)
    ensure_ledger(con)
    con.execute(RUNS_DDL)
    con.execute("CREATE TABLE IF NOT EXISTS engagements._meta (key VARCHAR, value VARCHAR)")
    con.execute("DELETE FROM engagements._meta WHERE key = 'schema_version'")
    con.execute("INSERT INTO engagements._meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
