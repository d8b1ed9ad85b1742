"""`push --dry-run` checks the token with a read-only call where the token may read, and warns
(exit 0) where it may only write (issue 17, point 5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from destinations.sandbox import SandboxServer
from pipelines.cli import app
from tests.integration.conftest import FAST
from tests.integration.test_operations import invoke, job_args

runner = CliRunner()
TOKEN = FAST.token


@pytest.fixture
def staged(sample: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A staging with pending requests for both targets (the sandbox only names destinations)."""
    point_at(sandbox, monkeypatch)
    invoke("stage", *job_args(sample))
    return Path("engagement-sync.duckdb")


def point_at(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for target, url in (("V1", sandbox.base_url), ("V2", sandbox.v2_base_url)):
        monkeypatch.setenv(f"DESTINATION__ENGAGEMENTS_{target}__BASE_URL", url)
        monkeypatch.setenv(f"DESTINATION__ENGAGEMENTS_{target}__API_TOKEN", TOKEN)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def restricted(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    with SandboxServer(replace(FAST, **request.param)) as server:
        yield server


def dry_run(*extra: str) -> tuple[dict[str, dict], str]:
    result = runner.invoke(app, ["push", "--dry-run", "--json", *extra])
    assert result.exit_code == 0, result.output + result.stderr
    [line] = result.stdout.splitlines()
    return {r["target"]: r for r in json.loads(line)["push"]}, result.stderr


def test_a_token_that_may_read_is_checked(staged: Path, sandbox: SandboxServer) -> None:
    reports, err = dry_run()
    assert {t: r["token_check"] for t, r in reports.items()} == {"v1": "checked", "v2": "checked"}
    assert reports["v1"]["destination"].startswith("hubspot-portal:62515@")  # account info read
    assert reports["v2"]["plan"]["create"] == reports["v2"]["pending"] > 0
    assert "could not be checked" not in err
    assert sandbox.store.count_v1() + sandbox.store.count_v2() == 0


def test_a_wrong_token_stops_the_dry_run(staged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for target in ("V1", "V2"):
        monkeypatch.setenv(f"DESTINATION__ENGAGEMENTS_{target}__API_TOKEN", "wrong-token")
    for target in ("v1", "v2"):
        result = runner.invoke(app, ["push", "--dry-run", "--target", target])
        assert result.exit_code == 1 and "refused the token" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("restricted", "env"),
    [
        ({"write_only": (TOKEN,)}, {"DESTINATION__ENGAGEMENTS_V1__DESTINATION_ID": "portal-a"}),
        ({"write_only": (TOKEN,), "no_account_scope": (TOKEN,)}, {}),
    ],
    indirect=["restricted"],
    ids=["list-403-with-destination-id", "account-info-403"],
)
def test_a_write_only_token_is_a_warning_and_exit_0(
    sample: Path, restricted: SandboxServer, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(restricted, monkeypatch, **env)
    invoke("stage", *job_args(sample))
    reports, err = dry_run()
    for target in ("v1", "v2"):
        check = reports[target]["token_check"]
        assert check.startswith(f"{target}: the token could not be checked without sending")
        assert "HTTP 403" in check and f"{target}: the token could not be checked" in err
        assert reports[target]["plan"]["create"] == reports[target]["pending"] > 0
    assert restricted.store.count_v1() + restricted.store.count_v2() == 0


@pytest.mark.parametrize("restricted", [{"write_only": (TOKEN,)}], indirect=True)
def test_v1_account_info_is_the_check_when_it_may_be_read(
    sample: Path, restricted: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v1 engagements reads are forbidden, but naming the portal is a read it may make."""
    point_at(restricted, monkeypatch)
    invoke("stage", *job_args(sample))
    reports, _ = dry_run("--target", "v1")
    assert reports["v1"]["token_check"] == "checked"
    assert reports["v1"]["destination"].startswith("hubspot-portal:62515@")
