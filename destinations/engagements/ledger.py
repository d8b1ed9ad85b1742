"""The append-only delivery ledger in the DuckDB staging (`engagements.deliveries`).

An intent row is committed before each send and an outcome row after the answer. The current
state of a (destination, target, external_id) is its latest row: an intent with no outcome after
it is `unknown` to any later reader. Append-only, no keys or indexes: WAL replay after a crash
is safest that way (reliability_notes.md). This, not dlt state, is the truth about delivery.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime

import duckdb

DELIVERED = ("created", "existing", "updated")

DDL = """
CREATE SCHEMA IF NOT EXISTS engagements;
CREATE SEQUENCE IF NOT EXISTS engagements.deliveries_seq;
CREATE TABLE IF NOT EXISTS engagements.deliveries (
    seq BIGINT DEFAULT nextval('engagements.deliveries_seq'),
    recorded_at TIMESTAMPTZ DEFAULT now(),
    run_id VARCHAR, pid INTEGER, destination VARCHAR, target VARCHAR, external_id VARCHAR,
    phase VARCHAR, state VARCHAR, content_hash VARCHAR, request_body VARCHAR,
    run_workflows BOOLEAN, http_status INTEGER, engagement_id VARCHAR, error_code VARCHAR,
    error VARCHAR, request_id VARCHAR, note VARCHAR
);
CREATE OR REPLACE VIEW engagements.delivery_states AS
SELECT destination, target, external_id, seq, recorded_at, run_id, phase,
       CASE WHEN phase = 'intent' THEN 'unknown' ELSE state END AS state,
       content_hash, http_status, engagement_id, error_code, error, request_id, note
FROM (SELECT *, row_number() OVER (PARTITION BY destination, target, external_id
                                   ORDER BY seq DESC) AS rn
      FROM engagements.deliveries)
WHERE rn = 1;
"""


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


@dataclass(frozen=True)
class LastIntent:
    content_hash: str
    request_body: str
    run_workflows: bool | None
    at: datetime


@dataclass(frozen=True)
class LedgerState:
    state: str  # pending when the ledger has nothing yet
    engagement_id: str | None = None
    last_intent: LastIntent | None = None

    @property
    def delivered(self) -> bool:
        return self.state in DELIVERED


class Ledger:
    """Writes and reads one destination's rows for one target; safe to share between threads."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, destination: str, target: str, run_id: str
    ) -> None:
        self._con = con
        self._lock = threading.Lock()
        self.destination, self.target, self.run_id = destination, target, run_id
        ensure_ledger(con)

    def states(self, external_ids: list[str]) -> dict[str, LedgerState]:
        """Current state and last intent of each id (ids with no rows are absent)."""
        with self._lock:
            rows = self._con.execute(
                _STATE_SQL, [self.destination, self.target, external_ids]
            ).fetchall()
        out = {}
        for ext, state, engagement_id, c_hash, body, rw, at in rows:
            intent = LastIntent(c_hash, body, rw, at) if body is not None else None
            out[ext] = LedgerState(state, engagement_id, intent)
        return out

    def intent(
        self, external_id: str, content_hash: str, body: str, run_workflows: bool | None
    ) -> None:
        self._insert(
            external_id,
            "intent",
            None,
            content_hash=content_hash,
            request_body=body,
            run_workflows=run_workflows,
        )

    def outcome(
        self,
        external_id: str,
        state: str,
        *,
        http_status: int | None = None,
        engagement_id: str | None = None,
        error_code: str | None = None,
        error: str | None = None,
        request_id: str | None = None,
        note: str | None = None,
    ) -> None:
        self._insert(
            external_id,
            "outcome",
            state,
            http_status=http_status,
            engagement_id=engagement_id,
            error_code=error_code,
            error=error,
            request_id=request_id,
            note=note,
        )

    def adopted_ids(self) -> set[str]:
        """Engagement ids already tied to a record (so reconciliation never adopts one twice)."""
        with self._lock:
            rows = self._con.execute(
                "SELECT DISTINCT engagement_id FROM engagements.deliveries WHERE destination = ? "
                "AND target = ? AND engagement_id IS NOT NULL",
                [self.destination, self.target],
            )
            return {r[0] for r in rows.fetchall()}

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _insert(self, external_id: str, phase: str, state: str | None, **values: object) -> None:
        columns = [
            "run_id",
            "pid",
            "destination",
            "target",
            "external_id",
            "phase",
            "state",
            *values,
        ]
        params = [
            self.run_id,
            os.getpid(),
            self.destination,
            self.target,
            external_id,
            phase,
            state,
            *values.values(),
        ]
        sql = (
            f"INSERT INTO engagements.deliveries ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        with self._lock:
            self._con.execute(sql, params)


_STATE_SQL = """
WITH mine AS (
    SELECT * FROM engagements.deliveries
    WHERE destination = ? AND target = ? AND list_contains(?, external_id)
), last_row AS (
    SELECT external_id, CASE WHEN phase = 'intent' THEN 'unknown' ELSE state END AS state,
           row_number() OVER (PARTITION BY external_id ORDER BY seq DESC) AS rn
    FROM mine
), last_intent AS (
    SELECT external_id, content_hash, request_body, run_workflows, recorded_at,
           row_number() OVER (PARTITION BY external_id ORDER BY seq DESC) AS rn
    FROM mine WHERE phase = 'intent'
), adopted AS (
    SELECT external_id, max_by(engagement_id, seq) AS engagement_id
    FROM mine WHERE engagement_id IS NOT NULL GROUP BY external_id
)
SELECT l.external_id, l.state, a.engagement_id, i.content_hash, i.request_body,
       i.run_workflows, i.recorded_at
FROM last_row l
LEFT JOIN last_intent i ON i.external_id = l.external_id AND i.rn = 1
LEFT JOIN adopted a ON a.external_id = l.external_id
WHERE l.rn = 1
"""
