"""`retry`: re-queue what the API refused (`purge` is in purge.py)."""

from __future__ import annotations

from pathlib import Path

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
