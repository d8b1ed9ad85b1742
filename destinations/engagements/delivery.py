"""Delivering staged requests, exactly once per destination and target.

For each record: skip what the ledger says is delivered or rejected; for a v1 record whose last
send has an unknown outcome, look it up on the server first (reconcile.py); then write the
intent, send, and write the outcome. A resend of the same request repeats the recorded bytes.
A v1 record restaged with new content after delivery is PATCHed (drift); v2 cannot be updated.
Records are sent by a pool of threads; pacing and 429 pauses are shared (ratelimit.py).
For a v2 job with a relay, the recording is re-hosted just before the first send (relay.py) and
its link is part of the recorded bytes; a resend whose link has expired gets it signed again,
with a ledger note saying why the bytes changed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import stamina

from destinations.engagements.client import EngagementsClient
from destinations.engagements.ledger import LastIntent, Ledger, LedgerState
from destinations.engagements.outcomes import classify
from destinations.engagements.progress import Progress
from destinations.engagements.ratelimit import SendGate
from destinations.engagements.reconcile import find_engagement, patch_body
from destinations.engagements.relay import Relay
from destinations.engagements.sending import sending
from sources.engagements.wire import decode, encode, with_send_options
from sources.errors import RelayRejectError, StopRunError, TransientError

MEDIA_TIMEOUT_RUNS = 3  # runs in all that try a v2 record whose media download timed out

_STATES = {
    "created": "created",
    "existing": "existing",
    "rejected": "api_rejected",
    "unknown": "unknown",
    "retry": "pending",
    "later": "pending",
}


@dataclass(frozen=True)
class PendingRequest:
    external_id: str
    body: str
    content_hash: str
    job: str | None = None


@dataclass(frozen=True)
class PushOptions:
    target: str
    run_workflows: bool = True
    max_attempts: int = 5
    wait_initial: float = 0.5
    wait_max: float = 30.0
    max_retry_after: float = 120.0
    max_concurrency: int = 8
    run_workflows_by_job: Mapping[str, bool] = field(default_factory=dict)  # job settings

    def workflows_for(self, job: str | None) -> bool:
        return self.run_workflows_by_job.get(job or "", self.run_workflows)


@dataclass
class PushCounts:
    created: int = 0
    existing: int = 0
    updated: int = 0  # v1 PATCHed after drift
    api_rejected: int = 0
    skipped: int = 0  # already delivered, rejected or drifted on v2: never sent again
    reconciled: int = 0  # v1 unknowns found on the server and adopted
    unknown: int = 0  # outcome unknown, to be reconciled by a later run
    left_pending: int = 0  # retries ran out, or retry in a later run
    requests: int = 0
    throttled: int = 0  # 429 answers
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + n)


class Pusher:
    """Sends the requests of one run to one destination; shared by dlt's load threads."""

    def __init__(
        self,
        client: EngagementsClient,
        ledger: Ledger,
        gate: SendGate,
        options: PushOptions,
        progress: Progress | None = None,
        relays: Mapping[str, Relay] | None = None,
    ) -> None:
        self.client, self.ledger, self.gate, self.options = client, ledger, gate, options
        self.progress = progress
        self.relays: Mapping[str, Relay] = relays or {}  # by job name (v2 only)
        self.counts = PushCounts()
        self.stopped: StopRunError | None = None
        self.failure: BaseException | None = None  # what went wrong in the last sends
        self._pool = ThreadPoolExecutor(options.max_concurrency, thread_name_prefix="send")
        # Sends of one batch overlap the next batch: the senders never wait for a batch's
        # slowest request. At most `_window` records are queued or in flight.
        self._inflight: deque[Future[None]] = deque()
        self._window = options.max_concurrency * 4

    def push(self, rows: list[PendingRequest]) -> None:
        """Start delivering `rows`; raises the first failure of earlier sends, and StopRunError
        (latched: later calls send nothing). `drain` waits for the rest."""
        if self.stopped:
            raise self.stopped
        states = self.ledger.states({r.external_id: r.content_hash for r in rows})
        for row in rows:
            state = states.get(row.external_id, LedgerState("pending"))
            self._inflight.append(self._pool.submit(self._deliver, row, state))
            while len(self._inflight) > self._window:
                self._settle(self._inflight.popleft())

    def drain(self) -> None:
        """Wait for every send started so far; raise what went wrong, StopRunError first."""
        failure: BaseException | None = None
        while self._inflight:
            try:
                self._settle(self._inflight.popleft())
            except BaseException as exc:  # keep draining: every started send must finish
                failure = failure or exc
        if self.stopped:
            raise self.stopped
        if failure is not None:
            raise failure

    def stop_new_sends(self, reason: StopRunError) -> None:
        """Ctrl-C: sends already under way finish and record their outcome; nothing new is
        sent (records not yet started stay pending), and the run then stops with `reason`."""
        self.stopped = self.stopped or reason

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self.progress:
            self.progress.close()

    def _settle(self, future: Future[None]) -> None:
        error = future.exception()
        if isinstance(error, StopRunError):
            raise error
        if error is not None:
            raise error

    def _deliver(self, row: PendingRequest, state: LedgerState) -> None:
        try:
            with sending(self.options.target, row.external_id):  # retry log lines name it
                self._decide(row, state)
        finally:
            if self.progress:
                self.progress.advance()

    def _decide(self, row: PendingRequest, state: LedgerState) -> None:
        if self.stopped:
            raise self.stopped
        drifted = state.standing == "drifted"
        last = state.last_intent
        if drifted and self.options.target == "v1":
            self._retrying(lambda: self._patch(row, state))
        elif state.delivered or state.state == "api_rejected":
            self.counts.add("skipped")
        elif last and last.operation == "update":  # an unknown PATCH: safe to send again
            self._retrying(lambda: self._patch(row, state))
        elif state.state == "unknown" and self.options.target == "v1" and self._adopt(row, state):
            return
        else:
            prepared = self._prepare(row, state)
            if prepared is None:
                return
            body, run_workflows, note = prepared
            notes = [note] if note else []  # said once, on the first intent with these bytes
            self._retrying(
                lambda: self._create(
                    row, body, run_workflows, state, notes.pop() if notes else None
                )
            )

    def _retrying(self, send: object) -> None:
        try:
            for attempt in stamina.retry_context(
                on=self._retry_on,
                attempts=self.options.max_attempts,
                timeout=None,
                wait_initial=self.options.wait_initial,
                wait_max=self.options.wait_max,
            ):
                with attempt:
                    send()  # type: ignore[operator]
        except TransientError:
            self.counts.add("left_pending")

    def _prepare(
        self, row: PendingRequest, state: LedgerState
    ) -> tuple[str, bool | None, str | None] | None:
        """The bytes to send and a note when they differ from the recorded ones; None when the
        relay rejected the record or left it pending (written to the ledger)."""
        body, run_workflows = self._bytes_for(row, state)
        relay = self.relays.get(row.job or "") if self.options.target == "v2" else None
        if relay is None:
            return body, run_workflows, None
        resend = self._recorded(row, state) is not None
        source = str(decode(row.body)["media_url"])
        try:
            for attempt in stamina.retry_context(
                on=TransientError,
                attempts=self.options.max_attempts,
                timeout=None,
                wait_initial=self.options.wait_initial,
                wait_max=self.options.wait_max,
            ):
                with attempt:
                    sent, note = relay.swap(row.external_id, body, source, resend)
                    return sent, run_workflows, note
        except RelayRejectError as exc:
            self.ledger.outcome(
                row.external_id, "api_rejected", error_code=exc.code, error=str(exc)
            )
            self.counts.add("api_rejected")
        except TransientError as exc:
            self.ledger.outcome(row.external_id, "pending", error=str(exc))
            self.counts.add("left_pending")
        except StopRunError as exc:
            self.stopped = exc
            raise
        return None

    @staticmethod
    def _recorded(row: PendingRequest, state: LedgerState) -> LastIntent | None:
        """The last intent when it sent this same request (its bytes are repeated)."""
        last = state.last_intent
        if (
            last is not None
            and last.operation == "create"
            and last.content_hash == row.content_hash
        ):
            return last
        return None

    def _bytes_for(self, row: PendingRequest, state: LedgerState) -> tuple[str, bool | None]:
        """The recorded bytes when resending the same request, else this run's bytes."""
        last = self._recorded(row, state)
        if last is not None:
            return last.request_body, last.run_workflows
        body = decode(row.body)
        if self.options.target == "v2":
            rw = self.options.workflows_for(row.job)
            return with_send_options(body, run_workflows=rw).decode(), rw
        return encode(body).decode(), None

    def _create(
        self,
        row: PendingRequest,
        body: str,
        run_workflows: bool | None,
        state: LedgerState,
        note: str | None = None,
    ) -> None:
        ext = row.external_id
        self._before_send()
        self.ledger.intent(ext, row.content_hash, body, run_workflows, note=note)
        try:
            response = self.client.create(body.encode())
        except TransientError as exc:
            if exc.maybe_sent and self.options.target == "v1":
                self.ledger.outcome(ext, "unknown", error=str(exc))
                self.counts.add("unknown")
                return
            self.ledger.outcome(ext, "pending", error=str(exc))
            raise
        self._record(row, response, state)

    def _patch(self, row: PendingRequest, state: LedgerState) -> None:
        """v1 drift: PATCH metadata, timestamp and owner (v1 cannot change associations)."""
        body, note = patch_body(decode(row.body), state)
        ext, path = row.external_id, f"/engagements/v1/engagements/{state.engagement_id}"
        self._before_send()
        self.ledger.intent(ext, row.content_hash, body, None, operation="update")
        try:
            response = self.client.patch(path, body.encode())
        except TransientError as exc:
            self.ledger.outcome(ext, "unknown", error=str(exc), engagement_id=state.engagement_id)
            raise
        self._record(row, response, state, update_note=note)

    def _record(
        self,
        row: PendingRequest,
        response: object,
        state: LedgerState,
        update_note: str | None = None,
    ) -> None:
        ext = row.external_id
        status, headers, content = response.status, response.headers, response.content  # type: ignore[attr-defined]
        self.gate.observe(headers)
        try:
            outcome = classify(self.options.target, status, headers, content)
        except StopRunError as exc:
            self.ledger.outcome(ext, "pending", http_status=status, error=str(exc))
            self.stopped = exc
            raise
        kind = outcome.kind
        if kind == "later" and state.media_timeouts + 1 >= MEDIA_TIMEOUT_RUNS:
            kind = "rejected"  # timed out in MEDIA_TIMEOUT_RUNS runs: give up, say why
        ledger_state = _STATES[kind]
        if update_note is not None and kind == "created":
            ledger_state = "updated"
        self.ledger.outcome(
            ext,
            ledger_state,
            http_status=outcome.http_status,
            engagement_id=outcome.engagement_id or state.engagement_id,
            error_code=outcome.error_code,
            request_id=outcome.request_id,
            error=None if ledger_state in ("created", "existing", "updated") else outcome.message,
            note=update_note,
            content_hash=row.content_hash,
        )
        if kind == "retry":
            if outcome.http_status == 429:
                self.counts.add("throttled")
                self.gate.pause(outcome.retry_after)
            raise TransientError(
                f"HTTP {outcome.http_status}: {outcome.message or 'retry'}", outcome.retry_after
            )
        counter = {"rejected": "api_rejected", "later": "left_pending"}.get(kind, kind)
        self.counts.add("updated" if ledger_state == "updated" else counter)

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
            content_hash=last.content_hash if last else row.content_hash,
            note="reconciled: found on the server after an unknown outcome",
        )
        self.counts.add("reconciled")
        self.counts.add("created")
        return True

    def _before_send(self) -> None:
        if self.stopped:
            raise self.stopped
        self.gate.wait()
        self.counts.add("requests")

    def _retry_on(self, exc: Exception) -> bool | float:
        if not isinstance(exc, TransientError):
            return False
        if exc.retry_after is not None:
            return min(exc.retry_after, self.options.max_retry_after)
        return True
