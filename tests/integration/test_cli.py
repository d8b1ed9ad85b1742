"""The CLI as a user runs it: demo twice, status --json shape, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()


def test_demo_delivers_then_says_there_is_nothing_new(tmp_path: Path) -> None:
    first = runner.invoke(app, ["demo", "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    [stage] = data["stage"]
    assert stage["read"] >= 200
    assert stage["read"] == stage["staged"] + stage["folded"] + stage["rejected"]
    assert stage["rejected"] > 0 and stage["target_rejected"]["v2"] > 0  # some have no recording
    created = {p["target"]: p["created"] for p in data["push"]}
    assert created["v1"] > 0 and created["v2"] > 0
    assert data["sandbox_holds"] == created
    assert Path(data["staging"]) == tmp_path / "engagement-sync-demo.duckdb"

    second = runner.invoke(app, ["demo"])
    assert second.exit_code == 0, second.output
    assert "Nothing new to deliver" in second.stdout
    again = json.loads(runner.invoke(app, ["demo", "--json"]).stdout)
    assert [p["requests"] for p in again["push"]] == [0, 0]
    assert again["sandbox_holds"] == created
    assert not (tmp_path / "engagement-sync.duckdb").exists()  # never the user's staging


def test_status_json_has_the_documented_shape(tmp_path: Path) -> None:
    runner.invoke(app, ["demo", "--staging", "demo.duckdb"])
    result = runner.invoke(app, ["status", "--staging", "demo.duckdb", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["staged"]) == {"calls", "meetings"} and data["staged"]["calls"] > 0
    assert isinstance(data["rejected"], int) and data["rejected"] > 0
    for target in ("v1", "v2"):
        states = data["targets"][target]
        assert set(states) >= {
            "created",
            "existing",
            "api_rejected",
            "pending",
            "unknown",
            "drifted",
        }
        assert all(isinstance(n, int) for n in states.values())


def test_status_table_shows_tables_and_states() -> None:
    runner.invoke(app, ["demo", "--staging", "demo.duckdb"])
    result = runner.invoke(app, ["status", "--staging", "demo.duckdb"])
    assert result.exit_code == 0
    for word in ("calls", "rejected_records", "v2_requests", "Deliveries", "no_media_url"):
        assert word in result.stdout


def test_staging_named_like_its_schema_is_refused_with_the_fix() -> None:
    result = runner.invoke(app, ["status", "--staging", "engagements.duckdb"])
    assert result.exit_code == 2
    assert "--staging engagement-sync.duckdb" in result.stderr


def test_stage_without_a_job_says_how_to_give_one() -> None:
    result = runner.invoke(app, ["stage"])
    assert result.exit_code == 2
    assert "--preset" in result.stderr and "[engagement_sync.jobs" in result.stderr


def test_unknown_preset_is_a_usage_error() -> None:
    result = runner.invoke(app, ["stage", "--preset", "nope", "--path", "."])
    assert result.exit_code == 2
    assert "twilio" in result.stderr


def test_every_command_has_help() -> None:
    for command in ("stage", "push", "sync", "status", "sandbox", "demo"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        assert ("--port" if command == "sandbox" else "--staging") in result.stdout
