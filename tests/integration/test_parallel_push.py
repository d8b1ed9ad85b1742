"""Both APIs at once (issue 17, point 7): with v1 and v2 both pending, `push --target all` and
`sync` push them side by side, each at its own limit; the summaries stay per target.

The proof of overlap is an event, not a clock: v1 and v2 are two sandboxes (two servers, two
event loops), and each holds its first create until the other has stored one. Pushed one after
the other, the second target would never start while the first waits (the hold gives up after
a minute and the test fails); pushed at once, one target's create lands between two of the
other's, whichever starts first.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from destinations.sandbox import SandboxServer
from pipelines.jobs import Job
from pipelines.lock import holder
from pipelines.stage import stage
from tests.integration.conftest import FAST
from tests.integration.crash_harness import push_env, verdict
from tests.integration.interrupting import CONCURRENCY, NTH, Interrupter, run_push
from tests.integration.test_operations import invoke, job_args

runner = CliRunner()
HOLD_S = 60.0  # a fail-safe only: released by the v2 create, never by the clock


class Interleaving:
    """The creates of both sandboxes in the order they were stored. Each sandbox's first create
    holds its loop until the other sandbox has stored one, so whichever target starts first,
    pushed at once the other's create lands between two of its creates."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.lock = threading.Lock()
        self.stored = {"v1": threading.Event(), "v2": threading.Event()}
        self.gave_up = False
        self.staging_lock_holder: int | None = None

    def v1(self, api: str) -> None:
        self._created("v1", "v2")

    def v2(self, api: str) -> None:
        self._created("v2", "v1")

    def _created(self, mine: str, other: str) -> None:
        with self.lock:
            self.order.append(mine)
            first = self.order.count(mine) == 1
        self.stored[mine].set()  # before waiting: the other side may be waiting for it
        if first:  # blocks this sandbox's loop: no other create of it is stored meanwhile
            if mine == "v1":
                self.staging_lock_holder = holder(Path("engagement-sync.duckdb"))
            self.gave_up |= not self.stored[other].wait(HOLD_S)


@pytest.fixture
def two_sandboxes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Interleaving]:
    seen = Interleaving()
    with SandboxServer(FAST) as a, SandboxServer(FAST) as b:
        monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V1__BASE_URL", a.base_url)
        monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__BASE_URL", b.v2_base_url)
        for target in ("V1", "V2"):
            monkeypatch.setenv(f"DESTINATION__ENGAGEMENTS_{target}__API_TOKEN", FAST.token)
        monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V1__REQUESTS_PER_10S", "50000")
        monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__REQUESTS_PER_SECOND", "5000")
        off_a, off_b = a.store.watch_creates(seen.v1), b.store.watch_creates(seen.v2)
        try:
            yield seen
        finally:
            off_a(), off_b()
            for event in seen.stored.values():
                event.set()


def interleaved(order: list[str]) -> bool:
    """A create of one target between two of the other's."""

    def between(outer: str, inner: str) -> bool:
        first, last = order.index(outer), len(order) - 1 - order[::-1].index(outer)
        return inner in order[first:last]

    return between("v1", "v2") or between("v2", "v1")


@pytest.mark.parametrize("command", ["push", "sync"])
def test_v1_and_v2_are_pushed_at_once(
    sample: Path, two_sandboxes: Interleaving, command: str
) -> None:
    invoke("stage", *job_args(sample))
    args = ["push", "--target", "all"] if command == "push" else ["sync", *job_args(sample)]
    result = invoke(*args)
    seen = two_sandboxes
    assert not seen.gave_up, "one target never sent while the other waited: one at a time"
    assert interleaved(seen.order), seen.order
    assert seen.staging_lock_holder == os.getpid()  # held once, by this process, for the run
    reports = {r["target"]: r for r in result["push"]}
    assert list(reports) == ["v1", "v2"]  # per target, in target order
    with duckdb.connect("engagement-sync.duckdb", read_only=True) as con:
        for target in ("v1", "v2"):
            [(created,)] = con.execute(
                "SELECT count(*) FROM engagements.delivery_states WHERE target = ? AND "
                "state = 'created'",
                [target],
            ).fetchall()
            assert reports[target]["created"] == created == seen.order.count(target) > 0
    if command == "sync":
        targets = result["jobs"][0]["targets"]
        assert targets["v1"]["created"] == reports["v1"]["created"]
        assert targets["v2"]["created"] == reports["v2"]["created"]
    again = invoke("push", "--target", "all")["push"]
    assert all(r["pending"] == 0 for r in again)  # nothing left, nothing sent twice


def test_ctrl_c_stops_both_targets_and_a_rerun_completes_exactly_once(
    tmp_path: Path, sandbox: SandboxServer, sample_job: Job
) -> None:
    """SIGINT at the sandbox's Nth create (of either API; creates after it are held in flight
    until the child says it is stopping): neither target sends anything new, exit 130."""
    staging = tmp_path / "engagement-sync.duckdb"
    stage(staging, [sample_job])
    env = both_targets(sandbox)
    interrupter = Interrupter(twice=False)
    stored = {"v1": 0, "v2": 0}

    def count(api: str) -> None:
        stored[api] += 1

    off = sandbox.store.watch_creates(count)
    code, out, err = push_all(staging, env, interrupter, sandbox)
    off()
    assert code == 130, err
    failure = json.loads(out.splitlines()[-1])
    assert failure["exit_code"] == 130 and "left pending: v1" in err
    # after the Nth create nothing new started: at most the sends then in flight, per target
    assert NTH <= stored["v1"] + stored["v2"] <= NTH + 2 * CONCURRENCY, stored
    assert sum(failure["pending"].values()) > 0
    code, _, err = push_all(staging, env, None, sandbox)
    assert code == 0, err
    for target in ("v1", "v2"):
        result = verdict(staging, sandbox, target)
        assert (result.duplicates, result.missing) == (0, 0), (target, result)


def both_targets(sandbox: SandboxServer) -> dict[str, str]:
    env = push_env(sandbox, "v1", CONCURRENCY)
    env.update({k: v for k, v in push_env(sandbox, "v2", CONCURRENCY).items() if "ENGAGE" in k})
    env["DESTINATION__ENGAGEMENTS_V1__TIMEOUT"] = env["DESTINATION__ENGAGEMENTS_V2__TIMEOUT"] = "60"
    return env


def push_all(
    staging: Path, env: dict[str, str], interrupter: Interrupter | None, sandbox: SandboxServer
) -> tuple[int, str, str]:
    return run_push(staging, "all", env, interrupter, sandbox)
