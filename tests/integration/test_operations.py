"""Scheduled runs, backfills and inspection, through the CLI as users and schedulers run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from destinations.engagements.client import EngagementsClient, Response
from destinations.sandbox import SandboxServer
from pipelines.cli import app
from pipelines.lock import run_lock
from tests.integration.conftest import destination

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Both destinations pointed at the sandbox, the dlt way (env variables)."""
    values = {}
    for target in ("v1", "v2"):
        settings = destination(sandbox, target)
        prefix = f"DESTINATION__ENGAGEMENTS_{target.upper()}__"
        values.update(
            {
                prefix + "BASE_URL": settings.base_url,
                prefix + "API_TOKEN": "sandbox-token",
                prefix + "DESTINATION_ID": settings.destination_id,
                prefix + "REQUESTS_PER_10S": "50000",
                prefix + "REQUESTS_PER_SECOND": "5000",
            }
        )
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def job_args(sample: Path) -> list[str]:
    return [
        "--preset",
        "twilio",
        "--path",
        str(sample / "exports"),
        "--contact-map",
        str(sample / "contacts.csv"),
    ]


def invoke(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def test_a_second_run_while_one_is_active_exits_3_naming_the_pid(sample: Path) -> None:
    staging = Path("engagement-sync.duckdb").resolve()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from pipelines.lock import run_lock\n"
            "with run_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(30)",
            str(staging),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        result = runner.invoke(app, ["stage", *job_args(sample)])
        assert result.exit_code == 3
        assert f"PID {holder.pid}" in result.stderr and len(result.stderr.splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()
    assert runner.invoke(app, ["stage", *job_args(sample)]).exit_code == 0  # lock released


def test_status_works_while_nothing_runs_and_says_who_holds_the_lock(sample: Path) -> None:
    invoke("stage", *job_args(sample))
    with run_lock(Path("engagement-sync.duckdb")):
        data = invoke("status")
    assert data["running_pid"] == os.getpid()
    assert data["staged"]["calls"] > 0


def test_sync_summary_is_printed_and_stored_in_runs(sample: Path, env: dict) -> None:
    summary = invoke("sync", *job_args(sample))
    [job] = summary["jobs"]
    assert job["read"] == job["staged"] + job["folded"] + job["rejected"]
    assert job["targets"]["v1"]["created"] > 0 and job["targets"]["v2"]["created"] > 0
    assert "v2:no_media_url" in job["rejected_by_reason"]
    with duckdb.connect("engagement-sync.duckdb") as con:
        rows = con.execute("SELECT command, exit_code, summary FROM engagements.runs").fetchall()
    assert [(c, e) for c, e, _ in rows] == [("sync", 0)]
    assert json.loads(rows[0][2])["run_id"] == summary["run_id"]


def test_backfill_then_sync_neither_rereads_nor_resends(
    sample: Path, env: dict, sandbox: SandboxServer
) -> None:
    backfill = invoke(
        "backfill", "--since", "2024-03-01", "--until", "2024-03-02", *job_args(sample)
    )
    created = backfill["jobs"][0]["targets"]["v2"]["created"]
    assert 0 < created < sandbox.store.count_v2() + 1
    assert all(not e["run_workflows"] for e in sandbox.store.v2_engagements())
    assert all(e["start_at"] < "2024-03-02" for e in sandbox.store.v2_engagements())
    before = sandbox.store.count_v2()
    # The backfill did not move the scheduled cursor: sync reads the files, and sends only
    # what the backfill did not deliver.
    sync = invoke("sync", *job_args(sample))
    assert sync["jobs"][0]["files"] == 3
    assert sandbox.store.count_v2() == before + sync["jobs"][0]["targets"]["v2"]["created"]
    assert all(
        e["run_workflows"] for e in sandbox.store.v2_engagements() if e["start_at"] >= "2024-03-02"
    )
    again = invoke("sync", *job_args(sample))
    assert (
        again["jobs"][0]["files"] == 0
        and sandbox.store.count_v2() == before + sync["jobs"][0]["targets"]["v2"]["created"]
    )


def test_explain_tells_a_rejected_retried_and_delivered_record(
    sample: Path, env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke("stage", *job_args(sample))
    with duckdb.connect("engagement-sync.duckdb") as con:
        [(victim,)] = con.execute(
            "SELECT external_id FROM engagements.v2_requests ORDER BY external_id LIMIT 1"
        ).fetchall()
    # The API refuses it once (409: the external_id belonged to a deleted engagement), then,
    # once the user has dealt with it, accepts it.
    real_create = EngagementsClient.create
    refused = []

    def refuse_victim_once(self: EngagementsClient, body: bytes) -> Response:
        if victim.encode() in body and not refused:
            refused.append(victim)
            return Response(
                409,
                {"x-request-id": "req_test409"},
                b'{"title":"Conflict","status":409,"detail":"deleted","request_id":"req_test409"}',
            )
        return real_create(self, body)

    monkeypatch.setattr(EngagementsClient, "create", refuse_victim_once)
    invoke("push", "--target", "v2")
    monkeypatch.setattr(EngagementsClient, "create", real_create)
    requeued = invoke("retry", "--target", "v2", "--reason", "409")
    assert requeued["requeued"] == {"v2": 1}
    invoke("push", "--target", "v2")
    story = invoke("explain", victim)
    states = [d["state"] for d in story["deliveries"] if d["phase"] == "outcome"]
    assert states == ["api_rejected", "pending", "created"]
    assert story["deliveries"][1]["request_id"] == "req_test409"
    assert story["record"]["source_file"] and story["requests"]["v2"]["content_hash"]
    text = runner.invoke(app, ["explain", victim]).stdout
    assert "Delivery attempts" in text and "re-queued by retry" in text


def test_explain_of_a_record_rejected_before_sending(sample: Path) -> None:
    invoke("stage", *job_args(sample))
    with duckdb.connect("engagement-sync.duckdb") as con:
        [(ext,)] = con.execute(
            "SELECT external_id FROM engagements.rejected_records "
            "WHERE reason = 'no_media_url' LIMIT 1"
        ).fetchall()
    story = invoke("explain", ext)
    assert story["rejections"][0]["reason"] == "no_media_url" and story["deliveries"] == []
    assert runner.invoke(app, ["explain", "twilio:nope"]).exit_code == 2


def test_sql_is_read_only_and_resolves_tables_unqualified(sample: Path) -> None:
    invoke("stage", *job_args(sample))
    rows = invoke("sql", "SELECT count(*) AS n FROM calls")  # JSON Lines: one object per row
    assert rows["n"] > 0
    lines = runner.invoke(app, ["sql", "SELECT external_id FROM calls", "--json"]).stdout
    assert len(lines.splitlines()) == rows["n"]
    assert all("external_id" in json.loads(line) for line in lines.splitlines())
    result = runner.invoke(app, ["sql", "DELETE FROM calls"])
    assert result.exit_code == 2 and "read-only" in result.stderr.lower()


def test_purge_blanks_personal_data_and_nothing_is_resent(
    sample: Path, env: dict, sandbox: SandboxServer
) -> None:
    invoke("sync", *job_args(sample))
    held = sandbox.store.count_v1(), sandbox.store.count_v2()
    invoke("purge", "--before", "2030-01-01")
    with duckdb.connect("engagement-sync.duckdb") as con:
        [(phones,)] = con.execute(
            "SELECT count(*) FROM engagements.calls WHERE from_phone IS "
            "NOT NULL OR transcript_text IS NOT NULL"
        ).fetchall()
        [(hashes,)] = con.execute("SELECT count(content_hash) FROM engagements.calls").fetchall()
        [(bodies,)] = con.execute(
            "SELECT count(request_body) FROM engagements.deliveries "
            "WHERE state IS NULL AND external_id IN (SELECT external_id "
            "FROM engagements.calls WHERE from_phone IS NULL)"
        ).fetchall()
    assert phones == 0 and hashes > 0 and bodies == 0
    status = invoke("status")
    assert status["targets"]["v2"]["drifted"] == 0
    invoke("sync", *job_args(sample))
    assert (sandbox.store.count_v1(), sandbox.store.count_v2()) == held


def test_exit_codes(sample: Path, env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["sync", *job_args(sample)]).exit_code == 0  # rejections: still 0
    assert runner.invoke(app, ["sync", *job_args(sample), "--fail-on-rejects"]).exit_code == 0
    Path(sample / "exports" / "more.csv").write_text("sid,from,to,start_time\n,1,2,x\n")
    assert runner.invoke(app, ["sync", *job_args(sample), "--fail-on-rejects"]).exit_code == 1
    assert runner.invoke(app, ["sync", "--preset", "nope", "--path", "."]).exit_code == 2
    assert runner.invoke(app, ["backfill", "--since", "yesterday"]).exit_code == 2
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__API_TOKEN", "wrong")
    (sample / "exports" / "more.csv").unlink()
    time.sleep(0.01)
    result = runner.invoke(app, ["push", "--target", "v2"])
    assert result.exit_code in (0, 1)  # nothing pending: 0; anything pending meets the 401: 1


def test_changing_the_prefix_after_deliveries_is_refused(sample: Path, env: dict) -> None:
    invoke("sync", *job_args(sample))
    result = runner.invoke(app, ["stage", *job_args(sample), "--prefix", "other"])
    assert result.exit_code == 2 and "--force-new-prefix" in result.stderr
    forced = runner.invoke(
        app, ["stage", *job_args(sample), "--prefix", "other", "--force-new-prefix"]
    )
    assert forced.exit_code == 0


def test_a_fixed_contact_map_rereads_the_job(sample: Path) -> None:
    first = invoke("stage", *job_args(sample))
    assert first["stage"][0]["target_rejected"]["v1"] > 0
    contacts = sample / "contacts.csv"
    with duckdb.connect("engagement-sync.duckdb") as con:
        missing = con.execute(
            "SELECT r.external_id, c.from_phone, c.to_phone, c.direction "
            "FROM engagements.rejected_records r JOIN engagements.calls c "
            "USING (external_id) WHERE r.reason = 'no_contact'"
        ).fetchall()
    lines = contacts.read_text().splitlines()
    for i, (_, from_phone, to_phone, direction) in enumerate(missing):
        phone = to_phone if direction == "outbound" else from_phone
        if phone:
            lines.append(f"{90000 + i},,{phone}")
    contacts.write_text("\n".join(lines) + "\n")
    second = invoke("stage", *job_args(sample))
    assert second["stage"][0]["files"] == 3  # settings changed: every file read again
    with duckdb.connect("engagement-sync.duckdb") as con:
        [(n,)] = con.execute(
            "SELECT count(*) FROM engagements.v1_requests WHERE external_id IN "
            f"({','.join(repr(m[0]) for m in missing) or 'NULL'})"
        ).fetchall()
    assert n == sum(1 for m in missing if (m[2] if m[3] == "outbound" else m[1]))
    with duckdb.connect("engagement-sync.duckdb") as con:
        [(stale,)] = con.execute(
            "SELECT count(*) FROM engagements.rejected_records r JOIN "
            "engagements.v1_requests q USING (external_id) "
            "WHERE r.target = 'v1'"
        ).fetchall()
    assert stale == 0  # a record now sendable to v1 keeps no old no_contact rejection


def test_dry_run_says_what_would_happen_and_sends_nothing(
    sample: Path, env: dict, sandbox: SandboxServer
) -> None:
    invoke("stage", *job_args(sample))
    data = invoke("push", "--dry-run")
    by_target = {r["target"]: r for r in data["push"]}
    assert sandbox.store.count_v1() + sandbox.store.count_v2() == 0
    assert by_target["v2"]["plan"]["create"] == by_target["v2"]["pending"] > 0
    assert by_target["v2"]["plan"]["rejected"]["no_media_url"] > 0
    assert by_target["v1"]["plan"]["rejected"]["no_contact"] > 0
    invoke("push")
    after = invoke("push", "--dry-run")["push"]
    assert all(r["plan"]["create"] == 0 and r["plan"]["skip"]["created"] > 0 for r in after)
    text = runner.invoke(app, ["push", "--dry-run"]).stdout
    assert "would create 0" in text and "nothing was sent" in text
