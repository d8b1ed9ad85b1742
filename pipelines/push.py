"""The push pipeline: pending requests in the staging -> the engagements API, one per target.

A dlt pipeline per target reads what the ledger says is not yet delivered to this destination
and loads it into the `engagements_v1` / `engagements_v2` destination. The push pipeline keeps
nothing between runs: its local working folder, with any load package a crashed run left, is
dropped first. The staging and the ledger, not dlt state, say what is pending, and the sink
re-checks the ledger before every send anyway.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from dlt.pipeline.exceptions import PipelineStepFailed

from destinations.engagements.client import EngagementsClient
from destinations.engagements.ledger import ensure_ledger
from destinations.engagements.outcomes import classify
from destinations.engagements.sink import engagements_v1, engagements_v2, finish_run
from destinations.engagements.staging_db import opened, table_exists
from destinations.engagements.states import sendable_sql, standings_sql
from pipelines import dryrun, workspace
from pipelines.bucket_staging import forget_takeovers, takeovers
from pipelines.destination_identity import identify
from pipelines.destinations_config import DestinationSettings
from pipelines.lookup import LookupReport, delivered_any, look_up_pending
from pipelines.relay_config import resolve_relays
from sources.engagements.relay import RelaySettings
from sources.errors import StopRunError, TransientError

SINKS = {"v1": engagements_v1, "v2": engagements_v2}


def pending_sql(target: str) -> str:
    """What a push sends (states.py decides): never sent, retry later, outcome unknown, and on
    v1 what drifted after delivery (PATCH). One parameter: the destination."""
    return f"""
SELECT external_id, body, content_hash, job, started_at FROM ({standings_sql(target)})
WHERE body IS NOT NULL  -- purged records have nothing left to send
  AND standing IN {sendable_sql(target)}
"""


@dataclass
class PushReport:
    target: str
    destination: str
    pending: int
    created: int = 0
    existing: int = 0
    updated: int = 0
    api_rejected: int = 0
    reconciled: int = 0
    unknown: int = 0
    left_pending: int = 0
    skipped: int = 0
    requests: int = 0
    throttled: int = 0
    found_existing: int = 0  # v1: found on the portal before the first send from this staging
    lookup_requests: int = 0  # what finding them cost
    dry_run: bool = False
    plan: dict[str, Any] | None = None  # --dry-run: what would happen, and why
    token_check: str | None = None  # --dry-run: "checked", or why it could not be

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Scope:
    """Which requests a push considers: some jobs only, a start-time window (backfills)."""

    jobs: tuple[str, ...] | None = None
    since: datetime | None = None  # inclusive, UTC
    until: datetime | None = None  # exclusive, UTC

    def sql(self, target: str, destination_id: str) -> tuple[str, list[Any]]:
        query = f"SELECT * FROM ({pending_sql(target)}) WHERE true"
        params: list[Any] = [destination_id]
        if self.jobs is not None:
            query += " AND list_contains(?, job)"
            params.append(list(self.jobs))
        if self.since is not None:
            query += " AND started_at >= ?"
            params.append(self.since)
        if self.until is not None:
            query += " AND started_at < ?"
            params.append(self.until)
        return query + " ORDER BY started_at, external_id", params


def count_pending(staging: Path, target: str, destination_id: str, scope: Scope = Scope()) -> int:
    with opened(staging) as con:
        ensure_ledger(con)
        if not table_exists(con, f"{target}_requests"):
            return 0
        query, params = scope.sql(target, destination_id)
        row = con.execute(f"SELECT count(*) FROM ({query})", params).fetchone()
        return int(row[0]) if row else 0


def pending_requests(staging: Path, target: str, destination_id: str, scope: Scope) -> Any:
    """dlt resource: this target's requests the ledger does not show as done, in Arrow batches."""

    @dlt.resource(name=f"{target}_requests", max_table_nesting=0)
    def requests() -> Iterator[pa.Table]:
        with opened(staging) as con:
            if not table_exists(con, f"{target}_requests"):
                return
            query, params = scope.sql(target, destination_id)
            reader = con.execute(
                f"SELECT external_id, body, content_hash, job FROM ({query})", params
            ).fetch_record_batch(10_000)
            for batch in reader:
                yield pa.Table.from_batches([batch])

    return requests


def check_access(settings: DestinationSettings) -> None:
    """Stop at once, with one line, on a bad token or an unreachable API."""
    client = EngagementsClient(settings.target, settings.base_url, settings.api_token, timeout=30.0)
    try:
        response = client.probe()
    except TransientError as exc:
        raise StopRunError(
            f"{settings.target}: cannot reach {settings.base_url} ({exc}); check "
            "the network or base_url and run again"
        ) from None
    finally:
        client.close()
    if response.status in (401, 403):
        classify(settings.target, response.status, response.headers, response.content)


def name_destination(
    staging: Path, settings: DestinationSettings, scope: Scope, run_id: str, look_up: bool
) -> tuple[DestinationSettings, LookupReport | None]:
    """The destination asked who it is (destination_identity.py); with `look_up`, on v1 when
    this staging never delivered there, the pending records it already holds are recorded
    `existing` first (lookup.py)."""
    client = EngagementsClient(settings.target, settings.base_url, settings.api_token, timeout=30.0)
    try:
        with opened(staging) as con:
            ensure_ledger(con)
            settings = identify(con, settings, client)
            destination, found = settings.destination_id, None
            if (
                look_up
                and settings.target == "v1"
                and table_exists(con, "v1_requests")
                and (not delivered_any(con, destination, "v1") or takeovers(staging))
            ):  # a takeover: the dead run's sends after its last checkpoint are unrecorded
                found = look_up_pending(
                    con, client, destination, scope.sql("v1", destination), run_id
                )
                forget_takeovers(staging)
    except TransientError as exc:
        raise StopRunError(
            f"{settings.target}: could not read what the destination already holds ({exc}); "
            "nothing was sent, run again"
        ) from None
    finally:
        client.close()
    return settings, found


def push(
    staging: Path,
    settings: DestinationSettings,
    run_workflows: bool = True,
    dry_run: bool = False,
    show_progress: bool = True,
    scope: Scope = Scope(),
    run_id: str | None = None,
    run_workflows_by_job: dict[str, bool] | None = None,
    relays: dict[str, RelaySettings] | None = None,
) -> PushReport:
    """Deliver every pending request of one target within `scope`; StopRunError for run-level
    problems. Ledger rows carry `run_id` (a fresh one when not given). v2 `run_workflows` is
    the job's own setting where `run_workflows_by_job` has it, else `run_workflows`. v2
    requests of a job in `relays` have their recordings re-hosted by that job's relay."""
    target = settings.target
    run_id = run_id or uuid.uuid4().hex
    if dry_run:  # a read-only token check (a write-only token: a warning), then the plan
        settings, checked = dryrun.check_token(staging, settings)
        pending = count_pending(staging, target, settings.destination_id, scope)
        plan = dryrun.plan(staging, target, settings.destination_id)
        return PushReport(
            target, settings.destination_id, pending, dry_run=True, plan=plan, token_check=checked
        )
    check_access(settings)
    settings, found = name_destination(staging, settings, scope, run_id, look_up=True)
    pending = count_pending(staging, target, settings.destination_id, scope)
    report = PushReport(target, settings.destination_id, pending)
    if found is not None:
        report.found_existing, report.lookup_requests = found.found, found.requests
    if pending == 0:
        return report
    relay_configs = resolve_relays(relays or {}) if target == "v2" else {}
    name = f"engagements_push_{target}"
    # Nothing is kept between runs. Removed before dlt opens it: a state an older engagement-sync
    # wrote may name a destination class that no longer exists, which dlt fails to restore.
    shutil.rmtree(Path(workspace.pipelines_dir(staging)) / name, ignore_errors=True)
    pipeline = dlt.pipeline(pipeline_name=name, pipelines_dir=workspace.pipelines_dir(staging))
    rate_key = "requests_per_10s" if target == "v1" else "requests_per_second"
    rate = settings.rate_per_second * (10 if target == "v1" else 1)
    staging_path = str(staging.resolve())
    destination = SINKS[target](  # explicit values: dlt resolves nothing else for this run
        base_url=settings.base_url,
        api_token=settings.api_token,
        staging=staging_path,
        destination_id=settings.destination_id,
        max_concurrency=settings.max_concurrency,
        timeout=settings.timeout,
        ca_bundle=settings.ca_bundle,
        burst=settings.burst,
        run_id=run_id,
        run_workflows=run_workflows,
        total=pending if show_progress else 0,
        run_workflows_by_job=dict(run_workflows_by_job or {}),
        relays=relay_configs,
        **{rate_key: rate},
    )
    failure: Exception | None = None
    try:
        pipeline.run(
            pending_requests(staging, target, settings.destination_id, scope),
            destination=destination,
            loader_file_format="parquet",
        )
    except PipelineStepFailed as exc:
        failure = exc
    finally:
        pusher = finish_run(staging_path, target, run_id)
        workspace.prepare(staging)
    if pusher is not None:
        for name in (
            "created",
            "existing",
            "updated",
            "api_rejected",
            "reconciled",
            "unknown",
            "left_pending",
            "skipped",
            "requests",
            "throttled",
        ):
            setattr(report, name, getattr(pusher.counts, name))
        if pusher.stopped is not None:
            raise pusher.stopped
        if failure is None and pusher.failure is not None:
            raise pusher.failure
    if failure is not None:
        raise failure
    return report
