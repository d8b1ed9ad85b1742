"""Delivering staged requests one record at a time, exactly once per destination and target.

For each record: skip what the ledger says is delivered or rejected; for a v1 record whose last
send has an unknown outcome, look it up on the server first (reconcile.py); then write the intent,
send, and write the outcome. A resend of the same request repeats the recorded bytes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import stamina
from pyrate_limiter import Limiter

from destinations.engagements.client import EngagementsClient
from destinations.engagements.errors import StopRunError, TransientError
from destinations.engagements.ledger import Ledger, LedgerState
from destinations.engagements.outcomes import classify
from destinations.engagements.reconcile import find_engagement
from sources.engagements.wire import decode, encode, with_send_options


@dataclass(frozen=True)
class PendingRequest:
    external_id: str
    body: str
    content_hash: str


@dataclass(frozen=True)
class PushOptions:
    target: str
    run_workflows: bool = True
    max_attempts: int = 5
    wait_initial: float = 0.5
    wait_max: float = 30.0
    max_retry_after: float = 120.0


@dataclass
class PushCounts:
    created: int = 0
    existing: int = 0
    api_rejected: int = 0
    skipped: int = 0  # already delivered or rejected: never sent again
    reconciled: int = 0  # v1 unknowns found on the server and adopted
    unknown: int = 0  # outcome unknown, to be reconciled by a later run
    left_pending: int = 0  # retries ran out; a later run sends them
    requests: int = 0
    throttled: int = 0  # 429 answers
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + n)


class Pusher:
    """Sends the requests of one run to one destination; shared by dlt's load threads."""

    def __init__(
        self, client: EngagementsClient, ledger: Ledger, limiter: Limiter, options: PushOptions
    ) -> None:
        self.client, self.ledger, self.limiter, self.options = client, ledger, limiter, options
        self.counts = PushCounts()
        self.stopped: StopRunError | None = None
        self._gate_until = 0.0  # after a 429 every sender waits until then

    def push(self, rows: list[PendingRequest]) -> None:
        """Deliver `rows`; raises StopRunError (latched: later calls send nothing)."""
        if self.stopped:
            raise self.stopped
        states = self.ledger.states([r.external_id for r in rows])
        for row in rows:
            self._deliver(row, states.get(row.external_id, LedgerState("pending")))

    def _deliver(self, row: PendingRequest, state: LedgerState) -> None:
        if state.delivered or state.state == "api_rejected":
            self.counts.add("skipped")
            return
        if state.state == "unknown" and self.options.target == "v1" and self._adopt(row, state):
            return
        body, run_workflows = self._bytes_for(row, state)
        try:
            for attempt in stamina.retry_context(
                on=self._retry_on,
                attempts=self.options.max_attempts,
                timeout=None,
                wait_initial=self.options.wait_initial,
                wait_max=self.options.wait_max,
            ):
                with attempt:
                    self._send_once(row, body, run_workflows)
        except TransientError:
            self.counts.add("left_pending")

    def _bytes_for(self, row: PendingRequest, state: LedgerState) -> tuple[str, bool | None]:
        """The recorded bytes when resending the same request, else this run's bytes."""
        last = state.last_intent
        if last is not None and last.content_hash == row.content_hash:
            return last.request_body, last.run_workflows
        body = decode(row.body)
        if self.options.target == "v2":
            rw = self.options.run_workflows
            return with_send_options(body, run_workflows=rw).decode(), rw
        return encode(body).decode(), None

    def _send_once(self, row: PendingRequest, body: str, run_workflows: bool | None) -> None:
        if self.stopped:
            raise self.stopped
        self._wait_for_gate()
        self.limiter.try_acquire(self.options.target)
        ext = row.external_id
        self.ledger.intent(ext, row.content_hash, body, run_workflows)
        self.counts.add("requests")
        try:
            response = self.client.create(body.encode())
        except TransientError as exc:
            if exc.maybe_sent and self.options.target == "v1":
                self.ledger.outcome(ext, "unknown", error=str(exc))
                self.counts.add("unknown")
                return
            self.ledger.outcome(ext, "pending", error=str(exc))
            raise
        try:
            outcome = classify(
                self.options.target, response.status, response.headers, response.content
            )
        except StopRunError as exc:
            self.ledger.outcome(ext, "pending", http_status=response.status, error=str(exc))
            self.stopped = exc
            raise
        state = {
            "created": "created",
            "existing": "existing",
            "rejected": "api_rejected",
            "unknown": "unknown",
            "retry": "pending",
        }[outcome.kind]
        self.ledger.outcome(
            ext,
            state,
            http_status=outcome.http_status,
            engagement_id=outcome.engagement_id,
            error_code=outcome.error_code,
            error=outcome.message if state != "created" else None,
            request_id=outcome.request_id,
        )
        if outcome.kind == "retry":
            if outcome.http_status == 429:
                self.counts.add("throttled")
                self._close_gate(outcome.retry_after)
            raise TransientError(outcome.message or "retry", outcome.retry_after)
        self.counts.add({"rejected": "api_rejected"}.get(outcome.kind, outcome.kind))

    def _adopt(self, row: PendingRequest, state: LedgerState) -> bool:
        """v1 unknown: adopt the engagement if the server has it; False when confirmed absent."""
        last = state.last_intent
        sent = decode(last.request_body if last else row.body)
        intent_ms = int(last.at.timestamp() * 1000) if last else int(time.time() * 1000)
        try:
            found = find_engagement(self.client, sent, intent_ms, self.ledger.adopted_ids())
        except TransientError as exc:
            self.ledger.outcome(row.external_id, "unknown", error=f"look-up failed: {exc}")
            self.counts.add("unknown")
            return True
        if found is None:
            self.ledger.outcome(
                row.external_id,
                "pending",
                note="reconciled: confirmed absent on the server, resending",
            )
            return False
        self.ledger.outcome(
            row.external_id,
            "created",
            engagement_id=found,
            note="reconciled: found on the server after an unknown outcome",
        )
        self.counts.add("reconciled")
        self.counts.add("created")
        return True

    def _retry_on(self, exc: Exception) -> bool | float:
        if not isinstance(exc, TransientError):
            return False
        if exc.retry_after is not None:
            return min(exc.retry_after, self.options.max_retry_after)
        return True

    def _close_gate(self, retry_after: float | None) -> None:
        wait = min(retry_after if retry_after is not None else 1.0, self.options.max_retry_after)
        self._gate_until = max(self._gate_until, time.monotonic() + wait)

    def _wait_for_gate(self) -> None:
        delay = self._gate_until - time.monotonic()
        if delay > 0:
            time.sleep(delay)
