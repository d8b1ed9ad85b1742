"""Airflow: one mapped task per engagement-sync job (dynamic task mapping).

Each job has its own staging in a bucket (`ENGAGEMENT_SYNC__STAGING`), so the mapped tasks run
on any worker without sharing a file, and the staging's lease keeps two runs of one job apart
(a run that finds it held exits 3 and is retried). The jobs are the `[engagement_sync.jobs.*]`
tables of the project's `.dlt/config.toml`, read when the DAG runs. Tokens come from Airflow
Variables; the bucket keys from the worker's role, or the variables named below.

HubSpot's limits are per portal: jobs that write one portal share its `requests_per_10s`, so
the `engagement_sync` pool (create it with as many slots as jobs may run at once) caps them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pendulum
from airflow.decorators import dag, task
from airflow.operators.bash import BashOperator

PROJECT = Path("/opt/engagement-sync")  # a checkout with .venv and .dlt/config.toml
BUCKET = "s3://acme-engagement-sync/prod"
BUCKET_KEYS = "ENGAGEMENT_SYNC__STAGING__CREDENTIALS__"
SECRETS = {
    "DESTINATION__ENGAGEMENTS_V1__API_TOKEN": "{{ var.value.hubspot_token }}",
    "DESTINATION__ENGAGEMENTS_V2__API_TOKEN": "{{ var.value.askelephant_token }}",
    BUCKET_KEYS + "AWS_ACCESS_KEY_ID": "{{ var.value.sync_bucket_key_id }}",
    BUCKET_KEYS + "AWS_SECRET_ACCESS_KEY": "{{ var.value.sync_bucket_secret }}",
}


@dag(
    schedule="*/15 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["engagement-sync"],
)
def engagement_sync() -> None:
    @task
    def job_environments() -> list[dict[str, str]]:
        """One environment per configured job: its name and its own bucket staging."""
        config = tomllib.loads((PROJECT / ".dlt" / "config.toml").read_text())
        names = sorted(config.get("engagement_sync", {}).get("jobs", {}))
        return [
            {**SECRETS, "JOB": name, "ENGAGEMENT_SYNC__STAGING": f"{BUCKET}/{name}.duckdb"}
            for name in names
        ]

    BashOperator.partial(
        task_id="sync",
        cwd=str(PROJECT),
        bash_command='.venv/bin/engagement-sync sync --job "$JOB" --fail-on-rejects --json',
        append_env=True,
        pool="engagement_sync",
        retries=2,
        retry_delay=pendulum.duration(minutes=5),
    ).expand(env=job_environments())


engagement_sync()
