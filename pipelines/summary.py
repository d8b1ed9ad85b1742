"""The summary a sync or backfill prints and stores in `runs`: per job and target, what was
read, staged and rejected (by reason), and what this run delivered, plus where things stand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from destinations.engagements.staging_db import opened, table_exists
from pipelines.stage import JobStageReport


def run_summary(
    staging: Path,
    run_id: str,
    staged: list[JobStageReport],
    pushed: list[dict[str, Any]],
    targets: tuple[str, ...],
    seconds: float,
) -> dict[str, Any]:
    jobs = []
    with opened(staging) as con:
        for report in staged:
            entry: dict[str, Any] = {
                "job": report.job,
                "files": report.files,
                "read": report.read,
                "staged": report.staged,
                "folded": report.folded,
                "rejected": report.rejected,
                "rejected_by_reason": report.reasons,
                # folder entries not read (symbolic links, loops): not rows, so not rejections
                "skipped": len(report.skipped),
                "targets": {t: _target(con, report.job, t, run_id) for t in targets},
            }
            jobs.append(entry)
    return {"run_id": run_id, "seconds": round(seconds, 2), "jobs": jobs, "push": pushed}


def _target(con: Any, job: str, target: str, run_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "created": 0,
        "existing": 0,
        "updated": 0,
        "api_rejected_by_code": {},
        "pending": 0,
        "unknown": 0,
        "drifted": 0,
    }
    if not table_exists(con, f"{target}_requests"):
        return out
    rows = con.execute(
        """
        SELECT d.state, coalesce(d.error_code, CAST(d.http_status AS VARCHAR)), count(*)
        FROM engagements.deliveries d
        JOIN engagements.{t}_requests r ON r.external_id = d.external_id
        WHERE d.run_id = ? AND d.target = ? AND d.phase = 'outcome' AND r.job = ?
        GROUP BY ALL""".replace("{t}", target),
        [run_id, target, job],
    ).fetchall()
    for state, code, n in rows:
        if state in ("created", "existing", "updated"):
            out[state] += n
        elif state == "api_rejected":
            out["api_rejected_by_code"][code] = out["api_rejected_by_code"].get(code, 0) + n
    standing = con.execute(
        "SELECT state, count(*) FROM engagements.request_states WHERE target = ? AND job = ? "
        "AND state IN ('pending', 'unknown', 'drifted') GROUP BY ALL",
        [target, job],
    ).fetchall()
    for state, n in standing:
        out[state] = n
    return out
