"""`status`: what the staging holds and where each request stands, for people and machines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from destinations.engagements.ledger import ensure_ledger
from destinations.engagements.staging_db import check_name, opened, table_exists
from pipelines import workspace
from pipelines.destinations_config import resolve

STATES = ("created", "existing", "api_rejected", "pending", "unknown", "drifted")
TABLES = ("calls", "meetings", "rejected_records", "v1_requests", "v2_requests", "deliveries")


def status(staging: Path) -> dict[str, Any]:
    """Counts per table, per delivery state (against each target's configured destination),
    and the most common rejection reasons."""
    check_name(staging)
    if not staging.exists():
        return {
            "staging": str(staging),
            "exists": False,
            "staged": {"calls": 0, "meetings": 0},
            "rejected": 0,
            "targets": {t: dict.fromkeys(STATES, 0) for t in ("v1", "v2")},
        }
    with opened(staging) as con:
        ensure_ledger(con)
        workspace.create_views(con)
        counts = {t: _count(con, t) for t in TABLES}
        targets = {
            t: _target_states(con, t, resolve(t, require_token=False).destination_id)
            for t in ("v1", "v2")
        }
        reasons = _reasons(con) if table_exists(con, "rejected_records") else []
    return {
        "staging": str(staging),
        "exists": True,
        "staged": {"calls": counts["calls"], "meetings": counts["meetings"]},
        "rejected": counts["rejected_records"],
        "tables": counts,
        "targets": targets,
        "top_rejection_reasons": reasons,
    }


def _count(con: Any, table: str) -> int:
    if not table_exists(con, table):
        return 0
    return int(con.execute(f"SELECT count(*) FROM engagements.{table}").fetchone()[0])


def _target_states(con: Any, target: str, destination: str) -> dict[str, int]:
    out = dict.fromkeys(STATES, 0)
    if not table_exists(con, f"{target}_requests"):
        return out
    rows = con.execute(
        f"""
        WITH sent AS (
            SELECT external_id, max_by(content_hash, seq) AS sent_hash
            FROM engagements.deliveries
            WHERE destination = ? AND target = ? AND phase = 'intent' GROUP BY ALL)
        SELECT CASE WHEN s.state IN ('created', 'existing', 'updated')
                         AND sent.sent_hash IS NOT NULL AND sent.sent_hash <> r.content_hash
                    THEN 'drifted' ELSE coalesce(s.state, 'pending') END AS state, count(*)
        FROM engagements.{target}_requests r
        LEFT JOIN engagements.delivery_states s
               ON s.destination = ? AND s.target = ? AND s.external_id = r.external_id
        LEFT JOIN sent ON sent.external_id = r.external_id
        GROUP BY ALL""",
        [destination, target, destination, target],
    ).fetchall()
    for state, n in rows:
        key = "created" if state == "updated" else state
        out[key] = out.get(key, 0) + int(n)
    return out


def _reasons(con: Any) -> list[dict[str, Any]]:
    rows = con.execute("""
        SELECT coalesce(target, 'record') AS target, reason, count(*) AS n
        FROM engagements.rejected_records GROUP BY ALL ORDER BY n DESC, reason LIMIT 10
    """).fetchall()
    return [{"target": t, "reason": r, "count": int(n)} for t, r, n in rows]
