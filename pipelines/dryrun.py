"""`push --dry-run`: what a push would do, per target, and why; nothing is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from destinations.engagements.staging_db import opened, table_exists
from destinations.engagements.states import sendable_sql, standings_sql
from pipelines.meta import ensure_schema


def plan(staging: Path, target: str, destination_id: str) -> dict[str, Any]:
    """Counts of what would be created, resent after an unknown outcome (v1 after a look-up),
    updated (v1 drift), skipped (delivered, refused by the API, drifted on v2), and the records
    rejected before sending, by reason."""
    out: dict[str, Any] = {
        "create": 0,
        "resend_or_reconcile": 0,
        "update": 0,
        "skip": {},
        "rejected": {},
    }
    with opened(staging) as con:
        ensure_schema(con, str(staging))
        if table_exists(con, f"{target}_requests"):
            rows = con.execute(
                f"""
                SELECT CASE
                    WHEN standing = 'pending' THEN 'create'
                    WHEN standing = 'unknown' THEN 'resend_or_reconcile'
                    WHEN standing = 'drifted' AND standing IN {sendable_sql(target)} THEN 'update'
                    ELSE 'skip:' || standing END AS action, count(*)
                FROM ({standings_sql(target)}) GROUP BY ALL""",
                [destination_id],
            ).fetchall()
            for action, n in rows:
                if action.startswith("skip:"):
                    out["skip"][action[5:]] = int(n)
                else:
                    out[action] = int(n)
        if table_exists(con, "rejected_records"):
            for reason, n in con.execute(
                "SELECT reason, count(*) FROM engagements.rejected_records "
                "WHERE target = ? OR target IS NULL GROUP BY ALL ORDER BY 2 DESC",
                [target],
            ).fetchall():
                out["rejected"][reason] = int(n)
    return out
