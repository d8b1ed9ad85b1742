"""Records' stories for the HTML report's search box: what `explain` prints, for many records
in a few queries.

Bounded: at most `limit` records (those with a rejection, an API error or an unknown outcome
first, then the most recently active), at most MAX_ATTEMPTS ledger rows each, and without the
request bytes of each attempt (the request built is there once; `explain` shows the bytes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from destinations.engagements.staging_db import opened, table_exists
from pipelines.report_data import rows

MAX_ATTEMPTS = 40
RECORD_COLUMNS = (
    "source_file, source_row, source_system, kind, title, started_at, ended_at, duration_ms, "
    "direction, status, from_phone, to_phone, recording_url, owner_email, content_hash"
)
DELIVERY_COLUMNS = (
    "seq, recorded_at, destination, target, phase, state, http_status, engagement_id, "
    "error_code, error, request_id, note"
)


def stories(staging: Path, limit: int) -> tuple[dict[str, dict[str, Any]], int]:
    """({external_id: story}, how many records the staging has in all)."""
    with opened(staging, read_only=True) as con:
        ids, total = _chosen(con, limit)
        if not ids:
            return {}, total
        con.register("chosen", pa.table({"external_id": pa.array(ids, pa.string())}))
        out: dict[str, dict[str, Any]] = {
            i: {
                "external_id": i,
                "record": None,
                "requests": {},
                "rejections": [],
                "deliveries": [],
            }
            for i in ids
        }
        for table in ("calls", "meetings"):
            for r in _of(con, table, RECORD_COLUMNS):
                ext = r.pop("external_id")
                out[ext]["record"] = {"kind_table": table, **r}
        for target in ("v1", "v2"):
            for r in _of(con, f"{target}_requests", "content_hash, body"):
                ext = r.pop("external_id")
                r["body"] = orjson.loads(r["body"]) if r["body"] else None
                out[ext]["requests"][target] = r
        for r in _of(con, "rejected_records", "target, reason, field, message, source_file, raw"):
            ext = r.pop("external_id")
            r["raw"] = orjson.loads(r["raw"]) if r.get("raw") else None
            out[ext]["rejections"].append(r)
        for r in _of(
            con,
            "deliveries",
            DELIVERY_COLUMNS,
            f"QUALIFY row_number() OVER (PARTITION BY external_id ORDER BY seq DESC) "
            f"<= {MAX_ATTEMPTS} ORDER BY seq",
        ):
            out[r.pop("external_id")]["deliveries"].append(r)
    return out, total


def _of(
    con: duckdb.DuckDBPyConnection, table: str, columns: str, tail: str = ""
) -> list[dict[str, Any]]:
    if not table_exists(con, table):
        return []
    return rows(
        con,
        f"SELECT external_id, {columns} FROM engagements.{table} "
        f"WHERE external_id IN (SELECT external_id FROM chosen) {tail}",
    )


def _chosen(con: duckdb.DuckDBPyConnection, limit: int) -> tuple[list[str], int]:
    """The ids to embed, trouble first, then latest activity; and the total number of ids."""
    parts = [
        f"SELECT external_id, {trouble} AS trouble, {at} AS last_at FROM engagements.{table}"
        for table, trouble, at in (
            ("calls", "false", "started_at"),
            ("meetings", "false", "started_at"),
            ("rejected_records", "true", "NULL::TIMESTAMPTZ"),
            (
                "deliveries",
                "(phase = 'outcome' AND (http_status >= 400 OR state IN "
                "('api_rejected', 'unknown')))",
                "recorded_at",
            ),
        )
        if table_exists(con, table)
    ]
    if not parts:
        return [], 0
    found = con.execute(
        f"""
        SELECT external_id, count(*) OVER () AS total FROM ({" UNION ALL ".join(parts)})
        WHERE external_id IS NOT NULL
        GROUP BY external_id ORDER BY bool_or(trouble) DESC, max(last_at) DESC NULLS LAST,
                 external_id
        LIMIT {int(limit)}"""
    ).fetchall()
    return [r[0] for r in found], int(found[0][1]) if found else 0
