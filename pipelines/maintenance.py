"""`retry` (re-queue what the API refused) and `purge` (personal-data retention)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from destinations.engagements.ledger import Ledger
from destinations.engagements.staging_db import opened, table_exists
from pipelines import workspace
from pipelines.destination_identity import known_destination
from pipelines.destinations_config import resolve


def retry(staging: Path, targets: list[str], reason: str | None, run_id: str) -> dict[str, int]:
    """Put API-rejected records back to pending (optionally only one error code or HTTP status).
    Delivered records are never re-queued; purged ones (no body left) cannot be."""
    requeued = {}
    with opened(staging) as con:
        for target in targets:
            if not table_exists(con, f"{target}_requests"):
                requeued[target] = 0
                continue
            destination = known_destination(con, resolve(target, require_token=False))
            rows = con.execute(
                f"""
                SELECT s.external_id, coalesce(s.error_code, CAST(s.http_status AS VARCHAR))
                FROM engagements.delivery_states s
                JOIN engagements.{target}_requests r USING (external_id)
                WHERE s.destination = ? AND s.target = ? AND s.state = 'api_rejected'
                  AND r.body IS NOT NULL
                  AND (? IS NULL OR s.error_code = ? OR CAST(s.http_status AS VARCHAR) = ?)
                """,
                [destination, target, reason, reason, reason],
            ).fetchall()
            ledger = Ledger(con, destination, target, run_id)
            for external_id, code in rows:
                ledger.outcome(external_id, "pending", note=f"re-queued by retry (was {code})")
            requeued[target] = len(rows)
    workspace.prepare(staging)
    return requeued


# Personal data in each table, by column; ids, hashes, states and times are kept.
PERSONAL = {
    "calls": (
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
    ),
    "v1_requests": ("body",),
    "v2_requests": ("body",),
}


def purge(staging: Path, before: datetime) -> dict[str, int]:
    """Blank personal data of records that started before `before` and are settled on every
    target (delivered or refused: nothing left to send), and the raw rows of rejections loaded
    before it. Ids, content hashes and the ledger's states stay, so nothing is ever re-sent."""
    counts: dict[str, int] = {}
    workspace.prepare(staging)
    with opened(staging) as con:
        records = [
            f"SELECT external_id, started_at FROM engagements.{t}"
            for t in ("calls", "meetings")
            if table_exists(con, t)
        ]
        if not records:
            return counts
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE purge_ids AS
            SELECT external_id FROM ({" UNION ALL ".join(records)})
            WHERE started_at < ? AND external_id NOT IN (
                SELECT external_id FROM engagements.request_states
                WHERE state IN ('pending', 'unknown'))""",
            [before],
        )
        for table, columns in {**PERSONAL, "meetings": PERSONAL["calls"]}.items():
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
                "UPDATE engagements.deliveries SET request_body = NULL "
                "WHERE external_id IN (SELECT external_id FROM purge_ids)"
            )
        )
        if table_exists(con, "rejected_records"):
            counts["rejected_records"] = _count(
                con.execute(
                    """
                UPDATE engagements.rejected_records SET raw = NULL
                WHERE external_id IN (SELECT external_id FROM purge_ids)
                   OR _dlt_load_id IN (SELECT load_id FROM engagements._dlt_loads
                                       WHERE inserted_at < ?)""",
                    [before],
                )
            )
        con.execute("CHECKPOINT")
    return counts


def _count(cursor: Any) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0
