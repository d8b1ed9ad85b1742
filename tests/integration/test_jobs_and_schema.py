"""Job settings as users write them, and the staging's schema version."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from destinations.sandbox import SandboxServer
from pipelines.cli import app
from pipelines.jobs import build_settings, make_job
from pipelines.meta import SCHEMA_VERSION
from pipelines.runs import recorded_run
from pipelines.sync import SyncOptions, sync
from sources.errors import ConfigError
from tests.integration.conftest import destination

runner = CliRunner()


def test_a_jobs_own_run_workflows_is_sent_to_v2(
    sample: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = destination(sandbox, "v2")
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__BASE_URL", settings.base_url)
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__API_TOKEN", "sandbox-token")
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__REQUESTS_PER_SECOND", "5000")
    job = make_job(
        "quiet",
        {
            "preset": "twilio",
            "path": str(sample / "exports"),
            "run_workflows": False,
            "targets": ["v2"],
        },
    )
    staging = Path("engagement-sync.duckdb")
    with recorded_run(staging, "sync") as run:
        sync(staging, [job], SyncOptions(targets=("v2",)), run)
    engagements = sandbox.store.v2_engagements()
    assert engagements and not any(e["run_workflows"] for e in engagements)


@pytest.mark.parametrize(
    ("key", "value"),
    [("allow_unassociated", "yes"), ("prefix", 42), ("validate_dns", 1), ("targets", ["v3"])],
)
def test_a_bad_value_names_the_key(sample: Path, key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        make_job("calls", {"preset": "twilio", "path": str(sample), key: value})


def test_an_unknown_key_names_the_key_and_the_known_ones(sample: Path) -> None:
    with pytest.raises(ConfigError, match=r"contactmap.*known settings"):
        make_job("calls", {"preset": "twilio", "path": str(sample), "contactmap": "x.csv"})


def test_a_disposition_map_adds_the_portals_outcomes(tmp_path: Path, sample: Path) -> None:
    (tmp_path / "outcomes.csv").write_text(
        "disposition,guid\nDemo booked,11111111-2222-3333-4444-555555555555\n"
    )
    job = make_job(
        "calls",
        {
            "preset": "twilio",
            "path": str(sample),
            "disposition_map": str(tmp_path / "outcomes.csv"),
        },
    )
    dispositions = build_settings(job).dispositions
    # One normalisation for map keys and record values (issue 15): `Demo booked` -> demo_booked
    assert dispositions["demo_booked"] == "11111111-2222-3333-4444-555555555555"
    assert "connected" in dispositions  # HubSpot's built-ins stay


def make_v0_staging(path: Path) -> None:
    """A staging file as the first release wrote it: ledger without `operation`, no _meta."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA engagements")
        con.execute("CREATE SEQUENCE engagements.deliveries_seq")
        con.execute("""CREATE TABLE engagements.deliveries (
            seq BIGINT DEFAULT nextval('engagements.deliveries_seq'),
            recorded_at TIMESTAMPTZ DEFAULT now(), run_id VARCHAR, pid INTEGER,
            destination VARCHAR, target VARCHAR, external_id VARCHAR, phase VARCHAR,
            state VARCHAR, content_hash VARCHAR, request_body VARCHAR, run_workflows BOOLEAN,
            http_status INTEGER, engagement_id VARCHAR, error_code VARCHAR, error VARCHAR,
            request_id VARCHAR, note VARCHAR)""")
        con.execute(
            "INSERT INTO engagements.deliveries (destination, target, external_id, "
            "phase, state, engagement_id) VALUES ('https://x', 'v2', 'twilio:CA1', "
            "'outcome', 'created', 'eng_1')"
        )


def test_an_older_staging_is_migrated_in_place(sample: Path) -> None:
    make_v0_staging(Path("engagement-sync.duckdb"))
    result = runner.invoke(app, ["stage", "--preset", "twilio", "--path", str(sample / "exports")])
    assert result.exit_code == 0, result.output + result.stderr
    with duckdb.connect("engagement-sync.duckdb") as con:
        [(version,)] = con.execute(
            "SELECT value FROM engagements._meta WHERE key = 'schema_version'"
        ).fetchall()
        columns = {r[0] for r in con.execute("DESCRIBE engagements.deliveries").fetchall()}
        [(kept,)] = con.execute(
            "SELECT engagement_id FROM engagements.deliveries WHERE external_id = 'twilio:CA1'"
        ).fetchall()
    assert int(version) == SCHEMA_VERSION and "operation" in columns and kept == "eng_1"


def test_a_newer_staging_is_refused_with_the_fix(sample: Path) -> None:
    with duckdb.connect("engagement-sync.duckdb") as con:
        con.execute("CREATE SCHEMA engagements")
        con.execute("CREATE TABLE engagements._meta (key VARCHAR, value VARCHAR)")
        con.execute("INSERT INTO engagements._meta VALUES ('schema_version', '99')")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2
    assert "newer engagement-sync" in result.stderr and "upgrade" in result.stderr
