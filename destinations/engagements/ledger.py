"""The append-only delivery ledger in the DuckDB staging (`engagements.deliveries`).

An intent row is committed before each send and an outcome row after the answer. The current
state of a (destination, target, external_id) is its latest row: an intent with no outcome after
it is `unknown` to any later reader. Append-only, no keys or indexes: WAL replay after a crash
is safest that way (reliability_notes.md). This, not dlt state, is the truth about delivery.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import duckdb

from destinations.engagements.groupcommit import GroupCommit
from destinations.engagements.redact import redact
from destinations.engagements.staging_db import checkpoint, schema_lock
from destinations.engagements.states import DELIVERED, DELIVERY_STATES_VIEW, STANDING

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
"""


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    with schema_lock:  # another push of this process may be changing the schema too
        con.execute(DDL)
        con.execute(DELIVERY_STATES_VIEW)


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
    standing: str = "pending"  # states.STANDING against the request's current content hash
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
        self.rows_written = 0
        ensure_ledger(con)
        _open.add(self)

    def states(self, requests: dict[str, str]) -> dict[str, LedgerState]:
        """State, standing, last intent and history of each external_id -> content hash given
        (ids the ledger has no row for are absent: pending)."""
        with self._lock:
            rows = self._con.execute(
                _STATE_SQL,
                [list(requests), list(requests.values()), self.destination, self.target],
            ).fetchall()
        out = {}
        for ext, state, standing, eng_id, c_hash, body, rw, at, op, delivered, timeouts in rows:
            intent = LastIntent(c_hash, body, rw, at, op or "create") if body is not None else None
            out[ext] = LedgerState(state, standing, eng_id, intent, delivered, int(timeouts or 0))
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
            error=redact(error),  # an API or library error may quote the request's headers
            request_id=request_id,
            note=redact(note),
            content_hash=content_hash,
        )

    def found(self, rows: list[tuple[str, str, str]], note: str) -> None:
        """Record (external_id, engagement id, content hash) the destination already holds as
        `existing`, in one write."""
        self._writer.write_many(
            [
                self._row(ext, "outcome", "existing", engagement_id=eng, content_hash=h, note=note)
                for ext, eng, h in rows
            ]
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

    def snapshot(self, copy: Callable[[], object]) -> None:
        """Run `copy` (of the staging file) between two ledger writes, right after a CHECKPOINT:
        a consistent copy while the push goes on (a bucket staging's checkpoints)."""
        with self._lock:
            self._con.execute("CHECKPOINT")
            copy()

    def stop_writer(self) -> None:
        """Stop the writer thread; the connection stays open (its owner closes it)."""
        _open.discard(self)
        self._writer.close()

    def close(self) -> None:
        self.stop_writer()
        with self._lock:
            checkpoint(self._con)  # skipped while the other target's push writes
            self._con.close()

    def _insert(self, external_id: str, phase: str, state: str | None, **values: object) -> None:
        self._writer.write(self._row(external_id, phase, state, **values))

    def _row(
        self, external_id: str, phase: str, state: str | None, **values: object
    ) -> dict[str, object]:
        self.rows_written += 1
        return {
            "run_id": self.run_id,
            "pid": os.getpid(),
            "destination": self.destination,
            "target": self.target,
            "external_id": external_id,
            "phase": phase,
            "state": state,
            **values,
        }


_open: set[Ledger] = set()  # the ledgers of pushes under way in this process


def open_ledgers() -> list[Ledger]:
    """The ledgers of the pushes under way (a bucket staging checkpoints through them)."""
    return list(_open)


# One definition: the delivery_states view and STANDING (states.py).
_STATE_SQL = f"""
SELECT r.external_id, s.state, {STANDING} AS standing, s.engagement_id, s.intent_hash,
       s.intent_body, s.intent_run_workflows, s.intent_at, s.intent_operation, s.delivered_hash,
       s.media_timeouts
FROM (SELECT unnest(?) AS external_id, unnest(?) AS content_hash) r
JOIN engagements.delivery_states s
  ON s.destination = ? AND s.target = ? AND s.external_id = r.external_id
"""
