"""`status`: what the staging holds and where each request stands, for people and machines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from destinations.engagements.staging_db import check_name, opened, table_exists, writable
from destinations.engagements.states import standings_sql
from pipelines import workspace
from pipelines.destination_identity import known_destination
from pipelines.destinations_config import resolve
from pipelines.lock import holder
from pipelines.meta import ensure_schema

STATES = ("created", "existing", "updated", "api_rejected", "pending", "unknown", "drifted")
TABLES = (
    "calls",
    "meetings",
    "rejected_records",
    "v1_requests",
    "v2_requests",
    "deliveries",
    "runs",
)


def status(staging: Path, job: str | None = None, target: str | None = None) -> dict[str, Any]:
    """Counts per table, per delivery state (against each target's configured destination),
    the ten most common rejection and API-error reasons; optionally one job / target."""
    check_name(staging)
    chosen = [target] if target else ["v1", "v2"]
    if not staging.exists():
        return {
            "staging": str(staging),
            "exists": False,
            "staged": {"calls": 0, "meetings": 0},
            "rejected": 0,
            "targets": {t: _empty() for t in chosen},
        }
    running = holder(staging)
    read_only = not writable(staging)  # then read as it is: no migration, views as they are
    with opened(staging, read_only=read_only) as con:
        if not read_only:
            ensure_schema(con, str(staging))
            workspace.create_views(con)
        counts = {t: _count(con, t, job) for t in TABLES}
        destinations = {t: known_destination(con, resolve(t, require_token=False)) for t in chosen}
        states = {t: _target_states(con, t, destinations[t], job, running) for t in chosen}
        reasons = _reasons(con, job, chosen)
    return {
        "staging": str(staging),
        "exists": True,
        "job": job,
        "running_pid": running,
        "staged": {"calls": counts["calls"], "meetings": counts["meetings"]},
        "rejected": counts["rejected_records"],
        "tables": counts,
        "targets": states,
        "destinations": destinations,  # whom each target's counts are about
        "top_rejection_reasons": reasons,
    }


def _empty() -> dict[str, int]:
    return {**dict.fromkeys(STATES, 0), "in_flight": 0}


def _count(con: Any, table: str, job: str | None) -> int:
    if not table_exists(con, table):
        return 0
    has_job = table not in ("deliveries", "runs") and job is not None
    where = " WHERE job = ?" if has_job else ""
    row = con.execute(
        f"SELECT count(*) FROM engagements.{table}{where}", [job] if has_job else []
    ).fetchone()
    return int(row[0]) if row else 0


def _target_states(
    con: Any, target: str, destination: str, job: str | None, running: int | None
) -> dict[str, int]:
    """States against `destination`; an unknown whose intent belongs to the live run that
    holds the lock is in flight, not unknown."""
    out = _empty()
    if not table_exists(con, f"{target}_requests"):
        return out
    rows = con.execute(
        f"""
        SELECT CASE WHEN standing = 'unknown' AND pid = ? THEN 'in_flight'
                    ELSE standing END AS state, count(*)
        FROM ({standings_sql(target)})
        WHERE ? IS NULL OR job = ?
        GROUP BY ALL""",
        [running, destination, job, job],
    ).fetchall()
    for state, n in rows:
        out[state] = out.get(state, 0) + int(n)
    return out


def _reasons(con: Any, job: str | None, targets: list[str]) -> list[dict[str, Any]]:
    """The ten most common reasons a record was not delivered: ours and the API's."""
    parts, params = [], []
    if table_exists(con, "rejected_records"):
        parts.append(
            "SELECT coalesce(target, 'record') AS target, reason, 'validation' AS kind "
            "FROM engagements.rejected_records WHERE (? IS NULL OR job = ?)"
        )
        params += [job, job]
    for t in targets:
        if table_exists(con, f"{t}_requests"):
            parts.append(
                f"SELECT '{t}', coalesce(error_code, CAST(http_status AS VARCHAR)), 'api' "
                f"FROM engagements.failed_deliveries WHERE target = '{t}' AND (? IS NULL OR "
                "job = ?)"
            )
            params += [job, job]
    if not parts:
        return []
    rows = con.execute(
        f"SELECT target, reason, kind, count(*) AS n FROM ({' UNION ALL '.join(parts)}) "
        "GROUP BY ALL ORDER BY n DESC, reason LIMIT 10",
        params,
    ).fetchall()
    return [{"target": t, "reason": r, "kind": k, "count": int(n)} for t, r, k, n in rows]
