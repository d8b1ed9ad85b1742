"""`sql`: one read-only query on the staging, and nothing outside it.

Three locks, each enough on its own against most attacks: the file is opened read-only;
DuckDB's external access is off (no other file, URL, extension or attached database) and its
configuration locked (no SET undoes that); and DuckDB's own parser must find exactly one
statement of a read-only kind. The last matters because DuckDB lets a connection write files
it counts as its own (`COPY … TO '<the staging>'` once left 7 bytes and no ledger).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from destinations.engagements.staging_db import opened, problem
from sources.errors import ConfigError

# DESCRIBE, SHOW, SUMMARIZE, VALUES, TABLE, FROM-first, PRAGMA show_tables parse as SELECT.
ALLOWED = "SELECT, WITH, FROM …, DESCRIBE, SHOW, SUMMARIZE, VALUES, TABLE or EXPLAIN"
SAFE_CONFIG = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
}
_EXPLAIN_OPTIONS = ("ANALYZE", "ANALYSE")


def sql(staging: Path, query: str) -> dict[str, Any]:
    """Run one read-only query; tables resolve in the `engagements` schema without a prefix.
    Anything else (a write, a second statement, a file outside, a setting) is a ConfigError."""
    with opened(staging, read_only=True, config=SAFE_CONFIG) as con:
        con.execute("SET search_path = 'engagements,main'")
        con.execute("SET lock_configuration = true")
        statement = check_query(con, query)
        try:
            cursor = con.execute(statement)
            names = [d[0] for d in cursor.description] if cursor.description else []
            return {"columns": names, "rows": [list(r) for r in cursor.fetchall()]}
        except duckdb.Error as exc:
            raise problem(staging, exc) or ConfigError(f"query failed: {_first(exc)}") from None


def check_query(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """The one statement of `query` when DuckDB's parser calls it a query (an EXPLAIN is
    judged by the statement it explains: EXPLAIN ANALYZE runs it); else a ConfigError."""
    statements = _parse(con, query)
    if len(statements) != 1:
        raise ConfigError(
            f"`sql` runs exactly one statement and this has {len(statements)}; "
            "run them one at a time"
        )
    kind = statements[0].type
    if kind == duckdb.StatementType.EXPLAIN:
        inner = _parse(con, _explained(statements[0].query))
        kind = inner[0].type if len(inner) == 1 else duckdb.StatementType.MULTI
    if kind != duckdb.StatementType.SELECT:
        raise ConfigError(
            f"`sql` is read-only and refuses a {kind.name} statement; use {ALLOWED} "
            "(tables of schema engagements resolve unqualified)"
        )
    return str(statements[0].query)


def _parse(con: duckdb.DuckDBPyConnection, query: str) -> list[Any]:
    try:
        return list(con.extract_statements(query))
    except duckdb.Error as exc:
        raise ConfigError(f"query failed: {_first(exc)}") from None


def _explained(query: str) -> str:
    """The statement an EXPLAIN explains: what follows EXPLAIN, ANALYZE and a (…) option list."""
    depth = 0
    for offset, _ in duckdb.tokenize(query)[1:]:
        head = query[offset]
        if head in "()":
            depth += 1 if head == "(" else -1
        elif not depth and not query[offset:].upper().startswith(_EXPLAIN_OPTIONS):
            return query[offset:]
    return ""


def _first(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
