"""One definition of where a record stands (destinations/engagements/states.py), held to the
rules a resend and a drift must follow, on real ledger rows in a real staging file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from destinations.engagements.ledger import Ledger, ensure_ledger
from destinations.engagements.states import standings_sql
from destinations.sandbox import SandboxServer
from pipelines.dryrun import plan
from pipelines.jobs import Job
from pipelines.push import count_pending, push
from pipelines.stage import stage
from sources.engagements.wire import decode, with_send_options
from tests.integration.conftest import destination


def first_request(staging: Path, target: str) -> tuple[str, str, str]:
    with duckdb.connect(str(staging)) as con:
        row = con.execute(
            f"SELECT external_id, body, content_hash FROM engagements.{target}_requests "
            "ORDER BY external_id LIMIT 1"
        ).fetchone()
    assert row is not None
    return row


def test_a_resend_repeats_the_recorded_bytes_and_run_workflows(
    staging: Path, sample_job: Job, sandbox: SandboxServer
) -> None:
    """A backfill (workflows off) died after its intent: the next scheduled push (workflows on)
    resends exactly what was recorded, run_workflows false included."""
    stage(staging, [sample_job])
    settings = destination(sandbox, "v2")
    ext, body, content_hash = first_request(staging, "v2")
    recorded = with_send_options(decode(body), run_workflows=False).decode()
    with duckdb.connect(str(staging)) as con:
        ledger = Ledger(con, settings.destination_id, "v2", "crashed-backfill")
        ledger.intent(ext, content_hash, recorded, run_workflows=False)
        ledger.stop_writer()
    push(staging, settings, run_workflows=True)
    [held] = [e for e in sandbox.store.v2_engagements() if e["external_id"] == ext]
    assert held["run_workflows"] is False
    assert all(
        e["run_workflows"] for e in sandbox.store.v2_engagements() if e["external_id"] != ext
    )
    with duckdb.connect(str(staging)) as con:
        bodies = con.execute(
            "SELECT request_body FROM engagements.deliveries WHERE external_id = ? "
            "AND phase = 'intent' ORDER BY seq",
            [ext],
        ).fetchall()
    assert [b for (b,) in bodies] == [recorded, recorded]


@pytest.mark.parametrize(
    ("current", "standing"),
    [("h-found", "existing"), ("h-sent", "drifted"), ("h-new", "drifted")],
)
def test_drift_is_judged_by_what_the_server_accepted_not_by_the_last_intent(
    tmp_path: Path, current: str, standing: str
) -> None:
    """An intent with one hash, then the destination confirmed the record with another (a
    look-up after a lost response): the record is delivered as confirmed, and drifted only when
    the request differs from what was confirmed."""
    staging = tmp_path / "engagement-sync.duckdb"
    with duckdb.connect(str(staging)) as con:
        ensure_ledger(con)
        con.execute(
            "CREATE TABLE engagements.v1_requests AS SELECT 'rec:1' AS external_id, "
            "'{}' AS body, ? AS content_hash, 'job' AS job, now() AS started_at",
            [current],
        )
        ledger = Ledger(con, "portal", "v1", "run")
        ledger.intent("rec:1", "h-sent", "{}", None)
        ledger.outcome("rec:1", "existing", engagement_id="9", content_hash="h-found")
        ledger.stop_writer()
        [(found,)] = con.execute(
            f"SELECT standing FROM ({standings_sql('v1')})", ["portal"]
        ).fetchall()
    assert found == standing
    assert count_pending(staging, "v1", "portal") == (standing == "drifted")
    expected = {"update": 1} if standing == "drifted" else {}
    assert {k: v for k, v in plan(staging, "v1", "portal").items() if k == "update" and v} == (
        expected
    )


def test_a_record_unknown_at_one_destination_is_pending_at_another(tmp_path: Path) -> None:
    staging = tmp_path / "engagement-sync.duckdb"
    with duckdb.connect(str(staging)) as con:
        ensure_ledger(con)
        con.execute(
            "CREATE TABLE engagements.v2_requests AS SELECT 'rec:1' AS external_id, "
            "'{}' AS body, 'h' AS content_hash, 'job' AS job, now() AS started_at"
        )
        ledger = Ledger(con, "workspace-a", "v2", "run")
        ledger.intent("rec:1", "h", "{}", True)
        ledger.outcome("rec:1", "created", engagement_id="e1", content_hash="h")
        ledger.stop_writer()
        states = {
            dest: con.execute(f"SELECT standing FROM ({standings_sql('v2')})", [dest]).fetchall()
            for dest in ("workspace-a", "workspace-b")
        }
    assert states == {"workspace-a": [("created",)], "workspace-b": [("pending",)]}
