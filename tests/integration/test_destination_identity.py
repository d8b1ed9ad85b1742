"""Deliveries belong to a destination named by the destination (DESIGN invariants 1 and 8).

Two workspaces or portals behind one base URL are two destinations; a lost staging never
creates a second engagement; a ledger written before identities is carried over to a portal
only for what that portal confirms.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from destinations.engagements.identity import normalised_url
from destinations.sandbox import SandboxConfig, SandboxServer
from pipelines.jobs import Job
from pipelines.push import count_pending, push
from pipelines.stage import stage
from sources.errors import AuthError
from tests.integration.conftest import FAST, destination

PORTAL_A, PORTAL_B = 62515, 77001
TENANTS = replace(FAST, tenants=(("token-b", PORTAL_B),))


def named(sandbox: SandboxServer, target: str, token: str | None = None) -> object:
    """Settings that let the destination name itself (no destination_id set)."""
    return replace(destination(sandbox, target, token), destination_id="")


def rows(staging: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(staging)) as con:
        return con.execute(sql, params or []).fetchall()


def v1_fingerprints(sandbox: SandboxServer, portal: int) -> Counter:
    return Counter(
        (e["timestamp"], e["metadata"].get("toNumber"), e["metadata"].get("fromNumber"))
        for e in sandbox.store.v1_engagements(portal)
    )


@pytest.fixture
def tenants() -> object:
    with SandboxServer(TENANTS) as server:
        yield server


@pytest.mark.parametrize("target", ["v1", "v2"])
def test_one_staging_pushed_to_two_destinations_behind_one_url_delivers_to_both(
    staging: Path, sample_job: Job, tenants: SandboxServer, target: str
) -> None:
    stage(staging, [sample_job])
    [(staged,)] = rows(staging, f"SELECT count(*) FROM engagements.{target}_requests")
    first = push(staging, named(tenants, target))
    second = push(staging, named(tenants, target, token="token-b"))
    assert first.destination != second.destination
    assert first.created == second.created == staged > 0
    if target == "v2":
        for workspace in (PORTAL_A, PORTAL_B):
            held = Counter(e["external_id"] for e in tenants.store.v2_engagements(workspace))
            assert len(held) == staged and set(held.values()) == {1}
    else:
        for portal in (PORTAL_A, PORTAL_B):
            held = v1_fingerprints(tenants, portal)
            assert sum(held.values()) == staged and set(held.values()) == {1}
        assert first.destination == f"hubspot-portal:{PORTAL_A}@{tenants.base_url}"
    # the v2 identity is a keyed fingerprint: never the token itself
    assert tenants.config.token not in first.destination and "token-b" not in second.destination


def lose_staging(staging: Path) -> None:
    staging.unlink()
    shutil.rmtree(staging.parent / ".engagement-sync")


@pytest.mark.parametrize("target", ["v1", "v2"])
def test_a_lost_staging_creates_no_second_engagement(
    staging: Path, sample_job: Job, tenants: SandboxServer, target: str
) -> None:
    stage(staging, [sample_job])
    first = push(staging, named(tenants, target))
    lose_staging(staging)
    stage(staging, [sample_job])
    again = push(staging, named(tenants, target))
    assert again.created == 0 and first.created > 0
    if target == "v1":
        held = v1_fingerprints(tenants, PORTAL_A)
        assert set(held.values()) == {1} and sum(held.values()) == first.created
        assert again.found_existing == first.created
        assert again.lookup_requests <= 1 + first.created // 250  # pages of 250, not per record
    else:
        assert again.existing == first.created == tenants.store.count_v2(PORTAL_A)
    states = rows(
        staging,
        "SELECT state, count(*) FROM engagements.delivery_states WHERE target = ? GROUP BY ALL",
        [target],
    )
    assert states == [("existing", first.created)]


def test_an_empty_portal_costs_one_look_up_for_a_new_staging(
    staging: Path, sample_job: Job, tenants: SandboxServer
) -> None:
    stage(staging, [sample_job])
    report = push(staging, named(tenants, "v1"))
    assert (report.lookup_requests, report.found_existing) == (1, 0)
    assert report.created == tenants.store.count_v1(PORTAL_A)
    rerun = push(staging, named(tenants, "v1"))  # the ledger now knows: no look-up at all
    assert (rerun.pending, rerun.lookup_requests) == (0, 0)


def write_old_ledger(staging: Path, sample_job: Job, sandbox: SandboxServer) -> int:
    """A staging pushed the old way: ledger rows keyed by the normalised base URL."""
    stage(staging, [sample_job])
    old = replace(destination(sandbox, "v1"), destination_id=normalised_url(sandbox.base_url))
    return push(staging, old).created


def test_an_old_url_keyed_ledger_moves_to_its_own_portal_without_a_resend(
    staging: Path, sample_job: Job, tenants: SandboxServer
) -> None:
    created = write_old_ledger(staging, sample_job, tenants)
    report = push(staging, named(tenants, "v1"))
    assert (report.pending, report.created) == (0, 0)
    assert tenants.store.count_v1(PORTAL_A) == created
    carried = rows(
        staging,
        "SELECT count(DISTINCT external_id) FROM engagements.deliveries "
        "WHERE destination = ? AND note LIKE '%carried over%'",
        [report.destination],
    )
    assert carried == [(created,)]


def test_an_old_ledger_is_never_credited_to_another_portal(
    staging: Path, sample_job: Job, tenants: SandboxServer
) -> None:
    created = write_old_ledger(staging, sample_job, tenants)
    report = push(staging, named(tenants, "v1", token="token-b"))
    assert report.created == created == tenants.store.count_v1(PORTAL_B)
    assert tenants.store.count_v1(PORTAL_A) == created  # untouched
    assert set(v1_fingerprints(tenants, PORTAL_B).values()) == {1}


def test_a_token_that_may_not_read_its_portal_stops_with_the_missing_scope(
    staging: Path, sample_job: Job
) -> None:
    config = replace(FAST, no_account_scope=(FAST.token,))
    with SandboxServer(config) as sandbox:
        stage(staging, [sample_job])
        with pytest.raises(AuthError, match="`oauth`") as stopped:
            push(staging, named(sandbox, "v1"))
        assert "\n" not in str(stopped.value) and FAST.token not in str(stopped.value)
        assert sandbox.store.count_v1() == 0


def test_the_numbered_account_path_is_the_fallback(staging: Path, sample_job: Job) -> None:
    with SandboxServer(replace(FAST, account_info_versions=("v3",))) as sandbox:
        stage(staging, [sample_job])
        report = push(staging, named(sandbox, "v1"))
        assert report.destination.startswith(f"hubspot-portal:{PORTAL_A}@")
        assert report.created == sandbox.store.count_v1() > 0


def test_the_v2_key_lives_in_the_staging_so_every_machine_names_the_workspace_alike(
    staging: Path, sample_job: Job, tenants: SandboxServer, tmp_path: Path
) -> None:
    stage(staging, [sample_job])
    first = push(staging, named(tenants, "v2"))
    moved = tmp_path / "elsewhere" / "engagement-sync.duckdb"
    moved.parent.mkdir()
    shutil.copy(staging, moved)
    assert count_pending(moved, "v2", first.destination) == 0
    again = push(moved, named(tenants, "v2"))
    assert (again.destination, again.pending) == (first.destination, 0)


def test_sandbox_config_keeps_tenants_apart() -> None:
    config = SandboxConfig(tenants=(("b", 2),))
    assert (config.portal_of(config.token), config.portal_of("b"), config.portal_of("c")) == (
        config.portal_id,
        2,
        None,
    )


def test_reconcile_rebuilds_a_lost_v1_ledger_from_the_portal(
    staging: Path, sample_job: Job, tenants: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from pipelines.cli import app

    stage(staging, [sample_job])
    created = push(staging, named(tenants, "v1")).created
    lose_staging(staging)
    stage(staging, [sample_job])
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V1__BASE_URL", tenants.base_url)
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V1__API_TOKEN", tenants.config.token)
    monkeypatch.chdir(staging.parent)
    args = ["reconcile", "--target", "v1", "--staging", str(staging), "--json"]
    dry = CliRunner().invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    [planned] = json.loads(dry.stdout)["reconcile"]
    assert (planned["found"], planned["missing"], planned["dry_run"]) == (created, 0, True)
    assert rows(staging, "SELECT count(*) FROM engagements.deliveries") == [(0,)]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    [found] = json.loads(done.stdout)["reconcile"]
    assert (found["found"], found["missing"]) == (created, 0)
    assert found["requests"] <= 1 + created // 250
    again = push(staging, named(tenants, "v1"))
    assert (again.pending, tenants.store.count_v1(PORTAL_A)) == (0, created)
