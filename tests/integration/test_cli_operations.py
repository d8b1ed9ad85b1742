"""Issue 17 through the CLI: JSON Lines (failures too), tables that never cut a figure, one
line for a user's mistake, and saying what happened (updated, exit codes, dry runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from destinations.sandbox import SandboxConfig, SandboxServer
from pipelines.cli import app, run_cli
from tests.integration.test_operations import ROOT, env, invoke, job_args

runner = CliRunner()
__all__ = ["env"]  # the fixture, imported for these tests


def one_line_json(text: str) -> dict:
    [line] = text.splitlines()
    return json.loads(line)


def test_results_and_failures_are_one_json_line(sample: Path, env: dict) -> None:
    result = runner.invoke(app, ["sync", *job_args(sample), "--json"])
    assert result.exit_code == 0
    summary = one_line_json(result.stdout)
    assert summary["jobs"][0]["targets"]["v1"]["created"] > 0
    failed = runner.invoke(app, ["status", "--target", "v3", "--json"])
    assert failed.exit_code == 2
    error = one_line_json(failed.stdout)
    assert error["exit_code"] == 2 and "v3" in error["error"] and "--target v1" in error["fix"]


def test_a_usage_error_is_one_line_and_a_json_object(capsys: pytest.CaptureFixture) -> None:
    assert run_cli(["stage", "--no-such-flag", "--json"], json=True) == 2
    out, err = capsys.readouterr()
    assert one_line_json(out)["exit_code"] == 2
    assert len(err.splitlines()) == 1 and "--no-such-flag" in err and "--help" in err


@pytest.mark.parametrize("args", [["--version"], ["-h"], ["stage", "-h"]])
def test_version_and_short_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    assert ("engagement-sync" in result.stdout or "Usage:" in result.stdout) and (
        "Traceback" not in result.output
    )


def test_a_users_mistakes_are_one_line_with_the_fix(sample: Path) -> None:
    invoke("stage", *job_args(sample))
    contacts = sample / "contacts.csv"
    contacts.rename(sample / "moved.csv")  # the job's contact_map now points at nothing
    cases = {
        ("stage", *job_args(sample)): "contact_map",
        ("status", "--target", "v3"): "--target v1",
        ("status", "--job", "nope"): "known jobs: twilio",
        ("stage", "--preset", "twilio", "--path", "s3://no-such-bucket/x/"): (
            "[sources.filesystem.credentials]"
        ),
    }
    for args, fix in cases.items():
        result = runner.invoke(app, list(args))
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.splitlines()) == 1 and fix in result.stderr, result.stderr
        assert "Traceback" not in result.output


def test_tables_outside_a_terminal_keep_every_figure(sample: Path, env: dict) -> None:
    invoke("sync", *job_args(sample))
    text = runner.invoke(app, ["status"]).stdout  # CliRunner is not a terminal
    assert "…" not in text
    header = next(line for line in text.splitlines() if line.startswith("target"))
    assert header.split() == [
        "target",
        "created",
        "existing",
        "updated",
        "api_rejected",
        "pending",
        "in_flight",
        "unknown",
        "drifted",
        "destination",
    ]


def test_an_update_after_drift_is_reported_as_updated(sample: Path, env: dict) -> None:
    invoke("sync", *job_args(sample), "--target", "v1")
    with duckdb.connect("engagement-sync.duckdb") as con:  # as if restaged with new content
        con.execute(
            "UPDATE engagements.v1_requests SET content_hash = 'changed', body = CAST("
            'json_merge_patch(body, \'{"metadata": {"durationMilliseconds": 1}}\') AS VARCHAR)'
            " WHERE external_id = (SELECT min(external_id) FROM engagements.v1_requests)"
        )
    summary = invoke("sync", *job_args(sample), "--target", "v1")
    assert summary["jobs"][0]["targets"]["v1"]["updated"] == 1
    assert summary["push"][0]["updated"] == 1 and summary["push"][0]["created"] == 0
    assert invoke("status")["targets"]["v1"]["updated"] == 1
    table = runner.invoke(app, ["status"]).stdout
    v1_row = next(line for line in table.splitlines() if line.split()[:1] == ["v1"])
    assert v1_row.split()[3] == "1"  # the updated column


def test_push_dry_run_creates_no_staging(env: dict, tmp_path: Path) -> None:
    result = runner.invoke(app, ["push", "--dry-run", "--json"])
    assert result.exit_code == 0 and one_line_json(result.stdout)["exists"] is False
    assert not list(tmp_path.glob("engagement-sync*")) and not list(tmp_path.glob(".engage*"))


def test_purge_dry_run_says_what_purge_then_removes(sample: Path, env: dict) -> None:
    invoke("sync", *job_args(sample))
    staging = Path("engagement-sync.duckdb")
    before = staging.read_bytes()
    plan = invoke("purge", "--before", "2030-01-01", "--dry-run")["would_purge"]
    assert staging.read_bytes() == before  # nothing changed, not even the runs table
    assert plan["calls"] > 0
    assert invoke("purge", "--before", "2030-01-01")["purged"] == plan
    text = runner.invoke(app, ["purge", "--before", "7d", "--dry-run"]).stdout
    assert "would blank" in text and "calls" in text


def test_runs_records_the_exit_code_the_process_returned(sample: Path, env: dict) -> None:
    (sample / "exports" / "more.csv").write_text("sid,from,to,start_time\n,1,2,x\n")
    result = runner.invoke(app, ["sync", *job_args(sample), "--fail-on-rejects"])
    assert result.exit_code == 1
    with duckdb.connect("engagement-sync.duckdb") as con:
        assert con.execute("SELECT exit_code FROM engagements.runs").fetchall() == [(1,)]


def test_a_cron_log_is_json_lines_on_both_streams(sample: Path, tmp_path: Path) -> None:
    """The README's cron line, twice, against a sandbox answering some creates 500: every
    stdout line and every stderr line parses, and each retry names its record and cause."""
    config = SandboxConfig(
        v1_requests_per_10s=100_000, v2_requests_per_second=10_000, error_rate=0.1, seed=3
    )
    with SandboxServer(config) as sandbox:
        environ = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DESTINATION__ENGAGEMENTS_V1__BASE_URL": sandbox.base_url,
            "DESTINATION__ENGAGEMENTS_V2__BASE_URL": sandbox.v2_base_url,
            "DESTINATION__ENGAGEMENTS_V1__API_TOKEN": "sandbox-token",
            "DESTINATION__ENGAGEMENTS_V2__API_TOKEN": "sandbox-token",
            "DESTINATION__ENGAGEMENTS_V1__REQUESTS_PER_10S": "50000",
            "DESTINATION__ENGAGEMENTS_V2__REQUESTS_PER_SECOND": "5000",
        }
        command = [sys.executable, "-m", "pipelines.cli", "--log-format", "json", "sync"]
        with open(tmp_path / "sync.jsonl", "ab") as out, open(tmp_path / "sync.err", "ab") as err:
            for _ in range(2):
                subprocess.run(
                    [*command, *job_args(sample), "--target", "v2", "--json"],
                    stdout=out,
                    stderr=err,
                    env=environ,
                    cwd=tmp_path,
                    check=True,
                )
    runs = [json.loads(line) for line in (tmp_path / "sync.jsonl").read_text().splitlines()]
    assert len(runs) == 2 and runs[1]["jobs"][0]["files"] == 0
    logs = [json.loads(line) for line in (tmp_path / "sync.err").read_text().splitlines()]
    retries = [entry for entry in logs if entry["logger"] == "engagement_sync.retry"]
    assert retries, logs
    assert all(r["external_id"].startswith("twilio:") and r["status"] for r in retries)
    assert all(r["target"] == "v2" and r["attempt"] >= 1 for r in retries)
    assert not any(entry["msg"] == "stamina.retry_scheduled" for entry in logs)
