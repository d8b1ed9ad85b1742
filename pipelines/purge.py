"""`purge`: personal-data retention that erases, not hides.

Every copy of a purged record's personal values goes: the canonical record, the requests built
from it, the bytes the ledger recorded for each send and any error text the API echoed, the
rejections' raw rows and messages, the side rows joined into it (recordings), and what dlt keeps
of it: its merge-staging tables (`engagements_staging.*`) and its completed load packages on
disk. DuckDB reuses freed blocks but never zeroes them, so the file is then rewritten
(compact.py): a fresh copy swapped in for the old one. Ids, content hashes and delivery states
stay, so nothing is ever re-sent, and dlt's incremental state is copied as it was.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from destinations.engagements.staging_db import opened, table_exists
from pipelines import compact, workspace
from sources.exports.source import SIDE_TABLES, key_of

# Personal data in each table, by column; ids, hashes, states and times are kept.
RECORD_COLUMNS = (
    "title",
    "body",
    "from_phone",
    "to_phone",
    "from_phone_raw",
    "to_phone_raw",
    "recording_url",
    "transcript_text",
    "owner_email",
    "participants",
)
PERSONAL = {
    "calls": RECORD_COLUMNS,
    "meetings": RECORD_COLUMNS,
    "v1_requests": ("body",),
    "v2_requests": ("body",),
}
MERGE_STAGING = f"{workspace.DATASET}_staging"  # dlt's dataset for merge loads


def purge(staging: Path, before: datetime) -> dict[str, int]:
    """Erase the personal data of records that started before `before` and are settled on
    every target (delivered or refused: nothing left to send), and of rejections loaded before
    it; then rewrite the file so no erased value survives in its bytes. Rows touched, by table."""
    workspace.prepare(staging)
    with opened(staging) as con:
        counts = erase(con, before)
        con.execute("CHECKPOINT")
    compact.rewrite(staging)
    counts["dlt_load_packages"] = compact.drop_loaded_packages(staging)
    return counts


def erase(con: duckdb.DuckDBPyConnection, before: datetime) -> dict[str, int]:
    """Blank or delete every copy of the purged records' personal values inside the file."""
    counts: dict[str, int] = {}
    if not _select(con, before):
        return counts
    for table, columns in PERSONAL.items():
        if table_exists(con, table):
            sets = ", ".join(f"{c} = NULL" for c in columns)
            counts[table] = _count(
                con.execute(
                    f"UPDATE engagements.{table} SET {sets} "
                    "WHERE external_id IN (SELECT external_id FROM purge_ids)"
                )
            )
    counts["deliveries"] = _count(
        con.execute(
            "UPDATE engagements.deliveries SET request_body = NULL, error = NULL "
            "WHERE external_id IN (SELECT external_id FROM purge_ids)"
        )
    )
    for side in SIDE_TABLES:
        if table_exists(con, side):
            counts[side] = _erase_side_rows(con, side, before)
    if table_exists(con, "rejected_records"):
        counts["rejected_records"] = _erase_rejections(con, before)
    counts[MERGE_STAGING] = _empty_merge_staging(con)
    return counts


def _select(con: duckdb.DuckDBPyConnection, before: datetime) -> bool:
    """Fill temp tables staged_ids and purge_ids (external_id, job, source_id); False when
    nothing is staged."""
    records = [
        f"SELECT external_id, job, source_id, started_at FROM engagements.{t}"
        for t in ("calls", "meetings")
        if table_exists(con, t)
    ]
    if not records:
        return False
    con.execute(f"CREATE OR REPLACE TEMP TABLE staged_ids AS {' UNION ALL '.join(records)}")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE purge_ids AS
        SELECT external_id, job, source_id FROM staged_ids
        WHERE started_at < ? AND external_id NOT IN (
            SELECT external_id FROM engagements.request_states
            WHERE state IN ('pending', 'unknown'))""",
        [before],
    )
    return True


def _erase_side_rows(con: duckdb.DuckDBPyConnection, side: str, before: datetime) -> int:
    """Side rows (a recording link) of purged records, and those loaded before the date that
    no staged record joins (their call was rejected, or never came)."""
    key = key_of(side)
    return _count(
        con.execute(
            f"""
            DELETE FROM engagements.{side}
            WHERE (job, {key}) IN (SELECT (job, source_id) FROM purge_ids)
               OR ((job, {key}) NOT IN (SELECT (job, source_id) FROM staged_ids)
                   AND _dlt_load_id IN (SELECT load_id FROM engagements._dlt_loads
                                        WHERE inserted_at < ?))""",
            [before],
        )
    )


def _erase_rejections(con: duckdb.DuckDBPyConnection, before: datetime) -> int:
    """The raw row and the message (which may quote a value) of rejections of purged records
    and of rejections loaded before the date (rows that could not be read carry no time)."""
    return _count(
        con.execute(
            """
            UPDATE engagements.rejected_records SET raw = NULL, message = NULL
            WHERE external_id IN (SELECT external_id FROM purge_ids)
               OR _dlt_load_id IN (SELECT load_id FROM engagements._dlt_loads
                                   WHERE inserted_at < ?)""",
            [before],
        )
    )


def _empty_merge_staging(con: duckdb.DuckDBPyConnection) -> int:
    """dlt keeps the last merge load's rows in its staging dataset; it truncates those tables
    before each merge, so emptying them loses nothing (its `_dlt_version` stays)."""
    tables = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
        "AND table_type = 'BASE TABLE' AND NOT starts_with(table_name, '_dlt')",
        [MERGE_STAGING],
    ).fetchall()
    return sum(_count(con.execute(f'DELETE FROM {MERGE_STAGING}."{t}"')) for (t,) in tables)


def _count(cursor: Any) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0
