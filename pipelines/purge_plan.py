"""`purge --dry-run`: what `purge` would blank, counted read-only; the staging is not changed.

The selection mirrors maintenance.purge (records started before the date with nothing left to
send; rejections' raw rows loaded before it); tests/integration/test_cli_operations.py checks
that the counts equal what a real purge then reports.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from destinations.engagements.staging_db import check_name, table_exists
from pipelines.maintenance import PERSONAL


def would_purge(staging: Path, before: datetime) -> dict[str, int]:
    """Rows per table whose personal data `purge --before` would blank; {} without a staging."""
    check_name(staging)
    if not staging.exists():
        return {}
    with duckdb.connect(str(staging), read_only=True) as con:
        records = [
            f"SELECT external_id, started_at FROM engagements.{t}"
            for t in ("calls", "meetings")
            if table_exists(con, t)
        ]
        if not records:
            return {}
        ids = f"""
            SELECT external_id FROM ({" UNION ALL ".join(records)})
            WHERE started_at < $before AND external_id NOT IN (
                SELECT external_id FROM engagements.request_states
                WHERE state IN ('pending', 'unknown'))"""
        counts: dict[str, int] = {}
        for table in {**PERSONAL, "meetings": ()}:
            if table_exists(con, table):
                counts[table] = _n(
                    con,
                    f"SELECT count(*) FROM engagements.{table} WHERE external_id IN ({ids})",
                    before,
                )
        counts["deliveries"] = _n(
            con, f"SELECT count(*) FROM engagements.deliveries WHERE external_id IN ({ids})", before
        )
        if table_exists(con, "rejected_records"):
            counts["rejected_records"] = _n(
                con,
                f"""SELECT count(*) FROM engagements.rejected_records
                WHERE external_id IN ({ids}) OR _dlt_load_id IN (
                    SELECT load_id FROM engagements._dlt_loads WHERE inserted_at < $before)""",
                before,
            )
    return counts


def _n(con: duckdb.DuckDBPyConnection, query: str, before: datetime) -> int:
    row = con.execute(query, {"before": before}).fetchone()
    return int(row[0]) if row else 0
