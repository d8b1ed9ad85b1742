"""`sync` and `backfill`: stage, then push, as one recorded run with a summary.

sync: every job's new or changed files, then everything pending.
backfill: every file of the chosen jobs (without moving the scheduled runs' incremental state),
then only records whose start lies in [since, until), with workflows suppressed unless asked.
Both skip what was already delivered, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.destinations_config import resolve
from pipelines.jobs import Job
from pipelines.parallel import push_targets
from pipelines.push import Scope, push
from pipelines.relay_config import relays_by_job
from pipelines.runs import Run
from pipelines.stage import stage
from pipelines.summary import run_summary


@dataclass(frozen=True)
class SyncOptions:
    targets: tuple[str, ...] = ("v1", "v2")
    run_workflows: bool | None = None  # None: each job's own run_workflows setting
    force_new_prefix: bool = False
    since: datetime | None = None  # backfill window, UTC, inclusive
    until: datetime | None = None  # exclusive
    backfill: bool = False


def sync(staging: Path, jobs: list[Job], options: SyncOptions, run: Run) -> dict[str, Any]:
    """Stage then push; returns (and stores in run.summary) the per-job, per-target summary."""
    started = time.monotonic()
    needed = [t for t in options.targets if any(t in job.targets for job in jobs)]
    settings = {t: resolve(t) for t in needed}  # a missing token stops before reading anything
    staged = stage(
        staging, jobs, incremental=not options.backfill, force_new_prefix=options.force_new_prefix
    )
    scope = Scope(jobs=tuple(j.name for j in jobs), since=options.since, until=options.until)
    per_job = {} if options.run_workflows is not None else {j.name: j.run_workflows for j in jobs}
    pushed: list[dict[str, Any]] = []

    def push_one(target: str) -> dict[str, Any]:
        return push(
            staging,
            settings[target],
            options.run_workflows is not False,
            scope=scope,
            run_id=run.run_id,
            run_workflows_by_job=per_job,
            relays=relays_by_job(jobs),
        ).as_dict()

    try:
        push_targets(staging, tuple(needed), push_one, pushed)  # v1 and v2 at once
    finally:
        run.summary = run_summary(
            staging, run.run_id, staged, pushed, options.targets, time.monotonic() - started
        )
    return run.summary
