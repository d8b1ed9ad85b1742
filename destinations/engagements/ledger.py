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

from destinations.engagements.groupcommit import GroupCommit

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
    error VARCHAR, request_id VARCHAR, note VARCHAR, operation VARCHAR
);
ALTER TABLE engagements.deliveries ADD COLUMN IF NOT EXISTS operation VARCHAR;
-- The latest row per destination, target and record; `content_hash` is what that row is about
-- (an outcome carries its intent's hash) and `delivered_hash` what the server last accepted.
CREATE OR REPLACE VIEW engagements.delivery_states AS
WITH hashed AS (
    SELECT *,
           coalesce(content_hash, lag(content_hash) OVER (
               PARTITION BY destination, target, external_id ORDER BY seq)) AS sent_hash,
           row_number() OVER (
               PARTITION BY destination, target, external_id ORDER BY seq DESC) AS rn
    FROM engagements.deliveries
), delivered AS (
    SELECT destination, target, external_id, max_by(sent_hash, seq) AS delivered_hash
    FROM hashed WHERE phase = 'outcome' AND state IN ('created', 'existing', 'updated')
    GROUP BY ALL
)
SELECT h.destination, h.target, h.external_id, h.seq, h.recorded_at, h.run_id, h.pid, h.phase,
       CASE WHEN h.phase = 'intent' THEN 'unknown' ELSE h.state END AS state,
       h.sent_hash AS content_hash, d.delivered_hash, h.http_status, h.engagement_id,
       h.error_code, h.error, h.request_id, h.note
FROM hashed h LEFT JOIN delivered d USING (destination, target, external_id)
WHERE h.rn = 1;
"""


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


@dataclass(frozen=True)
class LastIntent:
    content_hash: str
    request_body: str
    run_workflows: bool | None
    at: datetime
    operation: str  # create or update (a v1 PATCH after drift)


@dataclass(frozen=True)
class LedgerState:
    state: str  # pending when the ledger has nothing yet
    engagement_id: str | None = None
    last_intent: LastIntent | None = None
    delivered_hash: str | None = None  # content hash of the last delivered request
    media_timeouts: int = 0

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
        self._writer = GroupCommit(con, self._lock)
        self.destination, self.target, self.run_id = destination, target, run_id
        ensure_ledger(con)

    def states(self, external_ids: list[str]) -> dict[str, LedgerState]:
        """Current state, last intent and history of each id (ids with no rows are absent)."""
        with self._lock:
            rows = self._con.execute(
                _STATE_SQL, [self.destination, self.target, external_ids]
            ).fetchall()
        out = {}
        for ext, state, eng_id, c_hash, body, rw, at, op, delivered_hash, timeouts in rows:
            intent = LastIntent(c_hash, body, rw, at, op or "create") if body is not None else None
            out[ext] = LedgerState(state, eng_id, intent, delivered_hash, int(timeouts or 0))
        return out

    def intent(
        self,
        external_id: str,
        content_hash: str,
        body: str,
        run_workflows: bool | None,
        operation: str = "create",
        note: str | None = None,
    ) -> None:
        """`note` says why the bytes differ from the last intent's, when they do (a relay link
        signed again)."""
        self._insert(
            external_id,
            "intent",
            None,
            content_hash=content_hash,
            request_body=body,
            run_workflows=run_workflows,
            operation=operation,
            note=note,
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
        content_hash: str | None = None,
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
            content_hash=content_hash,
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
        self._writer.close()
        with self._lock:
            self._con.execute("CHECKPOINT")
            self._con.close()

    def _insert(self, external_id: str, phase: str, state: str | None, **values: object) -> None:
        self._writer.write(
            {
                "run_id": self.run_id,
                "pid": os.getpid(),
                "destination": self.destination,
                "target": self.target,
                "external_id": external_id,
                "phase": phase,
                "state": state,
                **values,
            }
        )


# The content hash an outcome row carries is that of its intent: set on outcomes from the
# intent before it, so "delivered_hash" is the hash of what the server last accepted.
_STATE_SQL = """
WITH mine AS (
    SELECT *, coalesce(content_hash, lag(content_hash) OVER w) AS sent_hash
    FROM engagements.deliveries
    WHERE destination = ? AND target = ? AND list_contains(?, external_id)
    WINDOW w AS (PARTITION BY external_id ORDER BY seq)
), last_row AS (
    SELECT external_id, CASE WHEN phase = 'intent' THEN 'unknown' ELSE state END AS state,
           row_number() OVER (PARTITION BY external_id ORDER BY seq DESC) AS rn
    FROM mine
), last_intent AS (
    SELECT external_id, content_hash, request_body, run_workflows, recorded_at, operation,
           row_number() OVER (PARTITION BY external_id ORDER BY seq DESC) AS rn
    FROM mine WHERE phase = 'intent'
), history AS (
    SELECT external_id,
           max_by(engagement_id, seq) FILTER (WHERE engagement_id IS NOT NULL) AS engagement_id,
           max_by(sent_hash, seq) FILTER (WHERE phase = 'outcome'
                                          AND state IN ('created', 'existing', 'updated'))
               AS delivered_hash,
           count(*) FILTER (WHERE error_code = 'media_download_timeout') AS media_timeouts
    FROM mine GROUP BY external_id
)
SELECT l.external_id, l.state, h.engagement_id, i.content_hash, i.request_body,
       i.run_workflows, i.recorded_at, i.operation, h.delivered_hash, h.media_timeouts
FROM last_row l
LEFT JOIN last_intent i ON i.external_id = l.external_id AND i.rn = 1
LEFT JOIN history h ON h.external_id = l.external_id
WHERE l.rn = 1
"""
