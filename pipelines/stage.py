"""The stage pipeline: export files -> DuckDB staging (calls, meetings, requests, rejections)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from dlt.pipeline.exceptions import PipelineStepFailed

from destinations.engagements.staging_db import opened, table_exists
from pipelines import workspace
from pipelines.jobs import Job, build_settings, export_job
from pipelines.jobstate import jobs_to_reread, remember
from pipelines.stage_progress import StageProgress
from pipelines.usage import missing_bucket_credentials
from sources.exports.canonical import KEYS_TABLE
from sources.exports.source import SIDE_TABLES, StageTally, exports


@dataclass
class JobStageReport:
    job: str
    files: int
    read: int
    staged: int
    folded: int
    rejected: int
    target_rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # folder entries not read -> why

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# DuckDB would take up to 80 % of the machine's memory for the merge of a big load; capped, it
# spills to disk instead, and insertion order (which staging tables do not promise) is free.
LOAD_CONFIG = {"memory_limit": "256MB", "preserve_insertion_order": False}


def stage_pipeline(staging: Path) -> dlt.Pipeline:
    # Arrow tables get dlt's _dlt_load_id too: every staged row says which load wrote it (and
    # _dlt_loads says when), which `purge` needs for rows that carry no time of their own.
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    return dlt.pipeline(
        pipeline_name=workspace.STAGE_PIPELINE,
        destination=dlt.destinations.duckdb(
            {"database": str(staging.resolve()), "global_config": LOAD_CONFIG}
        ),
        dataset_name=workspace.DATASET,
        pipelines_dir=workspace.pipelines_dir(staging),
    )


def known_side_tables(staging: Path, job: str) -> dict[str, pa.Table]:
    """Side tables (e.g. recordings) staged by earlier runs of `job`, for this run's joins."""
    known = {}
    with opened(staging) as con:
        for name in SIDE_TABLES:
            if table_exists(con, name):
                known[name] = con.execute(
                    f"SELECT COLUMNS(c -> NOT starts_with(c, '_dlt')) FROM engagements.{name} "
                    "WHERE job = ?",
                    [job],
                ).fetch_arrow_table()
    return known


def staged_keys(staging: Path, job: str) -> pa.Table | None:
    """The job's staged external ids, and the source keys remembered beside older ones
    (MapContext.staged): what lets a keying change leave staged records their ids."""
    parts = []
    with opened(staging) as con:
        for name in ("calls", "meetings"):
            if table_exists(con, name):
                parts.append(
                    f"SELECT external_id, NULL::VARCHAR AS source_key FROM engagements.{name} "
                    "WHERE job = $job"
                )
        if table_exists(con, KEYS_TABLE):
            parts.append(
                f"SELECT external_id, source_key FROM engagements.{KEYS_TABLE} WHERE job = $job"
            )
        if not parts:
            return None
        return con.execute(" UNION ALL ".join(parts), {"job": job}).fetch_arrow_table()


def drop_stale_rejections(staging: Path, job: str, paths: set[str], load_ids: list[str]) -> int:
    """Row rejections of the files this run read again that this run did not make again: a
    fixed row is no longer both staged and rejected (re-reading a file replaces its rows'
    rejections). Returns how many went."""
    if not paths or not load_ids:
        return 0
    with opened(staging) as con:
        if not table_exists(con, "rejected_records"):
            return 0
        con.register("read_paths", pa.table({"path": pa.array(sorted(paths), pa.string())}))
        row = con.execute(
            "DELETE FROM engagements.rejected_records WHERE job = $job AND target IS NULL "
            "AND source_file IN (SELECT path FROM read_paths) "
            "AND NOT list_contains($loads, _dlt_load_id) RETURNING 1",
            {"job": job, "loads": load_ids},
        ).fetchall()
        return len(row)


def stage(
    staging: Path, jobs: list[Job], incremental: bool = True, force_new_prefix: bool = False
) -> list[JobStageReport]:
    """Read each job's new or changed files and merge what they say into the staging.

    `incremental=False` reads every file without touching the incremental state (backfills);
    a job whose settings changed since its last run is read whole once (jobstate.py).
    """
    workspace.prepare(staging)  # fails fast, naming the holder, when another run has the file
    reread = jobs_to_reread(staging, jobs, force_new_prefix)
    pipeline = stage_pipeline(staging)
    reports = []
    for job in jobs:
        started = time.monotonic()
        progress = StageProgress(job.name)
        tally = StageTally(progress=progress)
        export = export_job(job, incremental and job.name not in reread)
        export = dataclasses.replace(export, staged_keys=staged_keys(staging, job.name))
        source = exports(export, build_settings(job), tally, known_side_tables(staging, job.name))
        try:
            info = pipeline.run(source, loader_file_format="parquet")
        except PipelineStepFailed as exc:
            raise missing_bucket_credentials(exc, job.path) or exc from None
        finally:
            progress.close()
        drop_stale_rejections(staging, job.name, tally.paths, list(info.loads_ids))
        reports.append(
            JobStageReport(
                job.name,
                tally.files,
                tally.read,
                tally.staged,
                tally.folded,
                tally.rejected,
                tally.target_rejected,
                round(time.monotonic() - started, 2),
                tally.reasons,
                tally.skipped,
            )
        )
    remember(staging, jobs)
    workspace.prepare(staging)
    return reports
