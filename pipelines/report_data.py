"""The figures of the HTML run report (html_report.py), read from the staging in a few queries.

Read-only: the file is opened read-only, nothing is created or migrated. Every figure comes
from the staging's own tables and the one definition of where a record stands (states.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from destinations.engagements.staging_db import opened, table_exists
from destinations.engagements.states import standings_sql

TARGETS = ("v1", "v2")
DELIVERIES = "engagements.deliveries"


def gather(staging: Path) -> dict[str, Any]:
    """Every figure of the report, as plain JSON-able values."""
    with opened(staging, read_only=True) as con:
        ledger = table_exists(con, "deliveries")
        return {
            "staging": str(staging),
            "counts": _counts(con),
            "states": _states(con, ledger),
            "rejections": _rejections(con),
            "sends": _sends(con) if ledger else {"run": None, "series": [], "runs": []},
            "latency": _latency(con) if ledger else [],
            "errors": _errors(con) if ledger else [],
        }


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    out = {}
    for name in ("calls", "meetings", "rejected_records", "v1_requests", "v2_requests"):
        out[name] = _count(con, name)
    out["sends"] = _count(con, "deliveries", "phase = 'intent'")
    out["runs"] = _count(con, "runs")
    return out


def _count(con: duckdb.DuckDBPyConnection, table: str, where: str = "true") -> int:
    if not table_exists(con, table):
        return 0
    row = con.execute(f"SELECT count(*) FROM engagements.{table} WHERE {where}").fetchone()
    return int(row[0]) if row else 0


def _states(con: duckdb.DuckDBPyConnection, ledger: bool) -> list[dict[str, Any]]:
    """Records by standing, per target and destination: every destination the ledger knows for
    the target (a staging never pushed: everything pending, destination not yet named)."""
    out = []
    for target in TARGETS:
        if not table_exists(con, f"{target}_requests"):
            continue
        if not ledger:
            n = _count(con, f"{target}_requests")
            out.append({"target": target, "destination": "(not pushed yet)", "pending": n})
            continue
        named = con.execute(
            f"SELECT DISTINCT destination FROM {DELIVERIES} WHERE target = ? ORDER BY 1", [target]
        ).fetchall()
        for (destination,) in named or [(None,)]:
            counts = dict(
                con.execute(
                    f"SELECT standing, count(*) FROM ({standings_sql(target)}) GROUP BY ALL",
                    [destination],
                ).fetchall()
            )
            label = destination or "(not pushed yet)"
            out.append({"target": target, "destination": label, **counts})
    return out


def _rejections(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Rejections by target and reason, most frequent first, with one example each."""
    if not table_exists(con, "rejected_records"):
        return []
    return rows(
        con,
        """
        SELECT coalesce(target, 'record') AS target, reason, count(*) AS n,
               arg_min(external_id, source_row) AS example_id,
               arg_min(source_file, source_row) AS example_file,
               min(source_row) AS example_row,
               arg_min(field, source_row) AS example_field,
               arg_min(message, source_row) AS example_message
        FROM engagements.rejected_records GROUP BY ALL ORDER BY n DESC, target, reason""",
    )


_ATTEMPTS = f"""
SELECT *, epoch(recorded_at) AS t,
       row_number() OVER (PARTITION BY destination, target, external_id, phase
                          ORDER BY seq) AS nth
FROM {DELIVERIES}
"""


def _sends(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Sends (intents), 429s and retries (an intent after the record's first one) per run, and
    over time for the latest run that sent anything."""
    runs = rows(
        con,
        f"""
        SELECT run_id, min(recorded_at) AS started, max(recorded_at) AS ended,
               count(*) FILTER (WHERE phase = 'intent') AS sends,
               count(*) FILTER (WHERE phase = 'outcome' AND http_status = 429) AS throttled,
               count(*) FILTER (WHERE phase = 'intent' AND nth > 1) AS retries,
               list(DISTINCT target ORDER BY target) AS targets
        FROM ({_ATTEMPTS}) GROUP BY run_id HAVING sends > 0 ORDER BY started DESC LIMIT 20""",
    )
    if not runs:
        return {"run": None, "series": [], "runs": []}
    latest = runs[0]["run_id"]
    span = con.execute(
        f"SELECT min(epoch(recorded_at)), max(epoch(recorded_at)) FROM {DELIVERIES} "
        "WHERE run_id = ?",
        [latest],
    ).fetchone()
    start, end = (float(span[0]), float(span[1])) if span else (0.0, 0.0)
    width = bucket_width(end - start)
    series = rows(
        con,
        f"""
        SELECT target, floor((t - $start) / $width)::INTEGER AS bucket,
               count(*) FILTER (WHERE phase = 'intent') AS sends,
               count(*) FILTER (WHERE phase = 'outcome' AND http_status = 429) AS throttled,
               count(*) FILTER (WHERE phase = 'intent' AND nth > 1) AS retries
        FROM ({_ATTEMPTS}) WHERE run_id = $run GROUP BY ALL ORDER BY target, bucket""",
        {"start": start, "width": width, "run": latest},
    )
    for run in runs:
        seconds = (run["ended"] - run["started"]).total_seconds()
        run["rate"] = round(run["sends"] / seconds, 1) if seconds > 0 else None
    return {"run": latest, "start": start, "width": width, "series": series, "runs": runs}


NICE_WIDTHS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


def bucket_width(span_s: float, most: int = 60) -> float:
    """The smallest round bucket width (seconds) that cuts `span_s` into at most `most`."""
    for width in NICE_WIDTHS:
        if span_s / width < most:
            return float(width)
    return float(max(3600 * 24, -(-span_s // most)))


def _latency(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Seconds from each send's intent to its outcome, per target: percentiles."""
    return rows(
        con,
        f"""
        WITH paired AS (
            SELECT target, phase, recorded_at,
                   lead(phase) OVER w AS next_phase, lead(recorded_at) OVER w AS next_at
            FROM {DELIVERIES}
            WINDOW w AS (PARTITION BY destination, target, external_id ORDER BY seq)
        ), latency AS (
            SELECT target, epoch(next_at) - epoch(recorded_at) AS s FROM paired
            WHERE phase = 'intent' AND next_phase = 'outcome'
        )
        SELECT target, count(*) AS sends,
               round(quantile_cont(s, 0.5), 3) AS p50, round(quantile_cont(s, 0.9), 3) AS p90,
               round(quantile_cont(s, 0.99), 3) AS p99, round(max(s), 3) AS max
        FROM latency GROUP BY target ORDER BY target""",
    )


def _errors(con: duckdb.DuckDBPyConnection, top: int = 10) -> list[dict[str, Any]]:
    """The most frequent API errors (an outcome with an HTTP error status), with request ids."""
    return rows(
        con,
        f"""
        SELECT target, http_status, error_code, left(error, 200) AS error, count(*) AS n,
               max(recorded_at) AS last_seen,
               list(DISTINCT request_id) FILTER (WHERE request_id IS NOT NULL)[1:3]
                   AS request_ids,
               arg_max(external_id, seq) AS example_id
        FROM {DELIVERIES} WHERE phase = 'outcome' AND http_status >= 400
        GROUP BY ALL ORDER BY n DESC, last_seen DESC LIMIT {int(top)}""",
    )
