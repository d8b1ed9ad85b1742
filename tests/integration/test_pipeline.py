"""The whole path with real dlt pipelines, a temp DuckDB file and the sandbox on 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from destinations.sandbox import SandboxServer
from pipelines.jobs import Job
from pipelines.push import push
from pipelines.stage import stage
from pipelines.status import status
from tests.integration.conftest import destination


def query(staging: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(staging)) as con:
        return con.execute(sql).fetchall()


def test_every_row_is_staged_folded_or_rejected(staging: Path, sample_job: Job) -> None:
    [report] = stage(staging, [sample_job])
    assert report.read == report.staged + report.folded + report.rejected
    assert report.folded > 0 and report.rejected > 0
    [(calls,)] = query(staging, "SELECT count(*) FROM engagements.calls")
    [(record_rejections,)] = query(
        staging, "SELECT count(*) FROM engagements.rejected_records WHERE target IS NULL"
    )
    assert (calls, record_rejections) == (report.staged, report.rejected)
    # v1/v2 tables hold only sendable requests; every other record has a per-target reason.
    for target in ("v1", "v2"):
        [(sendable,)] = query(staging, f"SELECT count(*) FROM engagements.{target}_requests")
        [(refused,)] = query(
            staging, f"SELECT count(*) FROM engagements.rejected_records WHERE target = '{target}'"
        )
        assert sendable + refused == report.staged


def test_sample_is_delivered_once_to_both_targets(
    staging: Path, sample_job: Job, sandbox: SandboxServer
) -> None:
    stage(staging, [sample_job])
    v1 = push(staging, destination(sandbox, "v1"))
    v2 = push(staging, destination(sandbox, "v2"))
    [(n_v1,)] = query(staging, "SELECT count(*) FROM engagements.v1_requests")
    v2_ids = {r[0] for r in query(staging, "SELECT external_id FROM engagements.v2_requests")}
    assert v1.created == n_v1 == sandbox.store.count_v1()
    assert v2.created == len(v2_ids)
    assert sorted(e["external_id"] for e in sandbox.store.v2_engagements()) == sorted(v2_ids)
    assert all(e["run_workflows"] for e in sandbox.store.v2_engagements())


def test_second_run_stages_and_sends_nothing(
    staging: Path, sample_job: Job, sandbox: SandboxServer
) -> None:
    for _ in range(2):
        reports = stage(staging, [sample_job])
        pushed = [push(staging, destination(sandbox, t)) for t in ("v1", "v2")]
    assert reports[0].read == 0 and reports[0].files == 0
    assert [p.pending for p in pushed] == [0, 0]
    assert [p.requests for p in pushed] == [0, 0]
    [(calls,)] = query(staging, "SELECT count(*) FROM engagements.calls")
    assert sandbox.store.count_v1() + sandbox.store.count_v2() > calls  # first run's, unchanged


def test_modified_file_updates_its_records_in_place(
    staging: Path, sample_job: Job, sample: Path
) -> None:
    stage(staging, [sample_job])
    before = dict(query(staging, "SELECT external_id, content_hash FROM engagements.calls"))
    csv_file = sample / "exports" / "call_log.csv"
    lines = csv_file.read_text().splitlines()
    lines[1] = lines[1].replace(",completed,", ",busy,").replace(",no-answer,", ",busy,")
    csv_file.write_text("\n".join(lines) + "\n")
    os.utime(csv_file, (csv_file.stat().st_atime, csv_file.stat().st_mtime + 5))
    [report] = stage(staging, [sample_job])
    after = dict(query(staging, "SELECT external_id, content_hash FROM engagements.calls"))
    assert report.files == 1
    assert after.keys() == before.keys()  # merged on external_id: no duplicates
    changed = [k for k in after if after[k] != before[k]]
    assert len(changed) == 1


@pytest.mark.parametrize("target", ["v1", "v2"])
def test_status_counts_match_the_sandbox(
    staging: Path,
    sample_job: Job,
    sandbox: SandboxServer,
    target: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stage(staging, [sample_job])
    settings = destination(sandbox, target)
    push(staging, settings)
    env = f"DESTINATION__ENGAGEMENTS_{target.upper()}__"
    monkeypatch.setenv(env + "BASE_URL", settings.base_url)
    monkeypatch.setenv(env + "DESTINATION_ID", settings.destination_id)
    data = status(staging)
    held = sandbox.store.count_v1() if target == "v1" else sandbox.store.count_v2()
    assert data["targets"][target]["created"] == held
    assert data["targets"][target]["pending"] == 0
    assert set(data["targets"][target]) >= {
        "created",
        "existing",
        "api_rejected",
        "pending",
        "unknown",
        "drifted",
    }
    assert data["staged"]["calls"] > 0 and data["rejected"] > 0


def test_a_rebuilt_record_leaves_no_stale_request_or_rejection(
    staging: Path, sample_job: Job, sample: Path
) -> None:
    """DESIGN invariant 7: v1/v2 tables hold only sendable requests, also after a change."""
    import json

    stage(staging, [sample_job])
    recordings = sample / "exports" / "recordings_page_0.json"
    page = json.loads(recordings.read_text())
    lost = page["recordings"].pop(0)["call_sid"]  # this call's recording is gone now
    recordings.write_text(json.dumps(page))
    os.utime(recordings, (recordings.stat().st_atime, recordings.stat().st_mtime + 5))
    stage(staging, [sample_job])
    ext = f"twilio:{lost}"
    assert query(
        staging, f"SELECT count(*) FROM engagements.v2_requests WHERE external_id = '{ext}'"
    ) == [(0,)]
    assert query(
        staging,
        "SELECT reason FROM engagements.rejected_records WHERE external_id = "
        f"'{ext}' AND target = 'v2'",
    ) == [("no_media_url",)]
    # and back: the recording returns, the rejection goes
    page["recordings"].append(
        {"call_sid": lost, "status": "completed", "media_url": f"https://api.twilio.com/x/{lost}"}
    )
    recordings.write_text(json.dumps(page))
    os.utime(recordings, (recordings.stat().st_atime, recordings.stat().st_mtime + 10))
    stage(staging, [sample_job])
    assert query(
        staging, f"SELECT count(*) FROM engagements.v2_requests WHERE external_id = '{ext}'"
    ) == [(1,)]
    assert query(
        staging,
        "SELECT count(*) FROM engagements.rejected_records WHERE "
        f"external_id = '{ext}' AND target = 'v2'",
    ) == [(0,)]
