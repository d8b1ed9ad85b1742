"""Looking into the staging: `explain` one record (read-only; `sql` is in sqlquery.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from destinations.engagements.staging_db import opened, table_exists
from sources.errors import ConfigError

RECORD_TABLES = ("calls", "meetings")


def explain(staging: Path, external_id: str) -> dict[str, Any]:
    """The record's whole story: source file and row, raw row, canonical record, each request
    built (with hash), every rejection and every delivery attempt."""
    with opened(staging, read_only=True) as con:
        story: dict[str, Any] = {
            "external_id": external_id,
            "record": None,
            "requests": {},
            "rejections": [],
            "deliveries": [],
        }
        for table in RECORD_TABLES:
            rows = _rows(con, table, "external_id = ?", [external_id])
            if rows:
                story["record"] = {"kind_table": table, **rows[0]}
        for target in ("v1", "v2"):
            rows = _rows(con, f"{target}_requests", "external_id = ?", [external_id])
            if rows:
                row = rows[0]
                row["body"] = orjson.loads(row["body"])
                story["requests"][target] = row
        story["rejections"] = _rows(con, "rejected_records", "external_id = ?", [external_id])
        for rejection in story["rejections"]:
            rejection["raw"] = orjson.loads(rejection["raw"]) if rejection.get("raw") else None
        story["deliveries"] = _rows(
            con, "deliveries", "external_id = ? ORDER BY seq", [external_id]
        )
        # where it stands at each destination it was ever sent to (states.py)
        story["standing"] = _rows(
            con,
            "delivery_states",
            "external_id = ? ORDER BY target, destination",
            [external_id],
        )
    if not (story["record"] or story["rejections"] or story["deliveries"]):
        raise ConfigError(
            f"no record {external_id!r} in {staging}; external ids look like "
            "'<prefix>:<source id>', e.g. twilio:CA…"
        )
    return story


def _rows(con: Any, table: str, where: str, params: list[Any]) -> list[dict[str, Any]]:
    if not table_exists(con, table):
        return []
    cursor = con.execute(
        f"SELECT COLUMNS(c -> NOT starts_with(c, '_dlt')) FROM engagements.{table} WHERE {where}",
        params,
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
