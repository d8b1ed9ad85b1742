"""Faults inside a push: each record still ends as exactly one engagement, and a run-level problem
stops the run with one line and loses no pending work."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from destinations.engagements.client import EngagementsClient
from destinations.sandbox import SandboxServer
from pipelines import push as push_module
from pipelines.cli import app
from pipelines.jobs import Job
from pipelines.push import count_pending, push
from pipelines.stage import stage
from sources.errors import AuthError
from tests.integration.conftest import destination


def staged_ids(staging: Path, target: str) -> list[str]:
    with duckdb.connect(str(staging)) as con:
        return [
            r[0]
            for r in con.execute(
                f"SELECT external_id FROM engagements.{target}_requests"
            ).fetchall()
        ]


def ledger_rows(staging: Path) -> list[tuple]:
    with duckdb.connect(str(staging)) as con:
        return con.execute("SELECT phase, state FROM engagements.deliveries").fetchall()


def v1_fingerprints(sandbox: SandboxServer) -> Counter:
    """What identifies a v1 call engagement on the server (v1 stores no external id)."""
    return Counter(
        (e["timestamp"], e["metadata"].get("toNumber"), e["metadata"].get("fromNumber"))
        for e in sandbox.store.v1_engagements()
    )


@pytest.mark.parametrize("target", ["v1", "v2"])
def test_exception_inside_the_sink_then_rerun_holds_each_record_once(
    staging: Path,
    sample_job: Job,
    sandbox: SandboxServer,
    target: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stage(staging, [sample_job])
    real_create, real_get = EngagementsClient.create, EngagementsClient.get
    sent = {"n": 0}

    def crash_after_send(self: EngagementsClient, body: bytes):  # type: ignore[no-untyped-def]
        response = real_create(self, body)  # the server has stored it...
        sent["n"] += 1
        if sent["n"] > 12:
            raise RuntimeError("injected: the process broke before the outcome was written")
        return response

    def broken_after_crash(self: EngagementsClient, *args, **kwargs):  # type: ignore[no-untyped-def]
        if sent["n"] > 12:
            raise RuntimeError("injected: still broken")
        return real_get(self, *args, **kwargs)

    monkeypatch.setattr(EngagementsClient, "create", crash_after_send)
    monkeypatch.setattr(EngagementsClient, "get", broken_after_crash)
    with pytest.raises(Exception, match="injected"):
        push(staging, destination(sandbox, target))
    monkeypatch.setattr(EngagementsClient, "create", real_create)
    monkeypatch.setattr(EngagementsClient, "get", real_get)
    report = push(staging, destination(sandbox, target))

    ids = staged_ids(staging, target)
    assert count_pending(staging, target, destination(sandbox, target).destination_id) == 0
    if target == "v2":
        assert sorted(e["external_id"] for e in sandbox.store.v2_engagements()) == sorted(ids)
        assert report.existing >= 1  # the lost answer was resent and found existing
    else:
        assert sandbox.store.count_v1() == len(ids)
        assert max(v1_fingerprints(sandbox).values()) == 1
        assert report.reconciled >= 1  # the unknown send was found, not resent


def test_wrong_token_stops_with_one_line_and_keeps_everything_pending(
    staging: Path, sample_job: Job, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage(staging, [sample_job])
    settings = destination(sandbox, "v2")
    pending_before = count_pending(staging, "v2", settings.destination_id)
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__BASE_URL", settings.base_url)
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__DESTINATION_ID", settings.destination_id)
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__API_TOKEN", "wrong-token-5f3a")
    result = CliRunner().invoke(app, ["push", "--staging", str(staging), "--target", "v2"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "token" in lines[0] and "API_TOKEN" in lines[0]
    assert "wrong-token-5f3a" not in result.output + result.stderr
    assert sandbox.store.count_v2() == 0
    assert count_pending(staging, "v2", settings.destination_id) == pending_before


def test_auth_failure_inside_the_sink_latches_and_marks_nothing(
    staging: Path, sample_job: Job, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token revoked mid-run: one request meets the 401, dlt's retries send nothing more."""
    stage(staging, [sample_job])
    monkeypatch.setattr(push_module, "check_access", lambda settings: None)
    # the revocation lands after the destination was named and looked up: inside the sink
    monkeypatch.setattr(push_module, "name_destination", lambda staging, s, *a, **k: (s, None))
    settings = destination(sandbox, "v1", token="revoked")
    pending_before = count_pending(staging, "v1", settings.destination_id)
    with pytest.raises(AuthError):
        push(staging, settings)
    rows = ledger_rows(staging)
    intents = [r for r in rows if r[0] == "intent"]
    assert 1 <= len(intents) <= settings.max_concurrency  # only the requests already in flight
    assert sorted(r for r in rows if r[0] == "outcome") == [("outcome", "pending")] * len(intents)
    assert count_pending(staging, "v1", settings.destination_id) == pending_before
