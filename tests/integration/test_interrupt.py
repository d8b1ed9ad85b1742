"""Ctrl-C on a real push (a subprocess), sent when the sandbox reports the Nth create.

Once: no new sends, the ones in flight finish and are recorded, what is left pending is
printed, exit 130. Twice: exit 130 at once; what was in flight is `unknown` and the next run
reconciles it. Either way the sandbox holds each record at most once and a rerun finishes
with none missing and no duplicates. The kill points are events (the sandbox's create
callback, the child's "stopping" line), never delays.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from destinations.sandbox import SandboxServer
from pipelines.stage import stage
from tests.integration.crash_harness import push_env, verdict
from tests.integration.interrupting import CONCURRENCY, NTH, Interrupter, run_push


def push(staging: Path, sandbox: SandboxServer, interrupter: Interrupter | None) -> tuple:
    env = {**push_env(sandbox, "v1", CONCURRENCY), "DESTINATION__ENGAGEMENTS_V1__TIMEOUT": "60"}
    return run_push(staging, "v1", env, interrupter, sandbox)


def ledger(staging: Path) -> dict[str, int]:
    with duckdb.connect(str(staging), read_only=True) as con:
        rows = con.execute(
            "SELECT state, count(*) FROM engagements.delivery_states WHERE target = 'v1' "
            "GROUP BY ALL"
        ).fetchall()
        [(runs,)] = con.execute(
            "SELECT list(exit_code ORDER BY started_at) FROM engagements.runs"
        ).fetchall()
    return {**{str(s): int(n) for s, n in rows}, "runs": runs}


@pytest.mark.parametrize("twice", [False, True], ids=["once", "twice"])
def test_ctrl_c_stops_sends_and_a_rerun_completes_exactly_once(
    tmp_path: Path, sandbox: SandboxServer, sample_job, twice: bool
) -> None:
    staging = tmp_path / "engagement-sync.duckdb"
    stage(staging, [sample_job])
    code, out, err = push(staging, sandbox, Interrupter(twice))
    assert code == 130, err
    failure = json.loads(out.splitlines()[-1])
    assert failure["exit_code"] == 130
    held = sandbox.store.count_v1()
    assert NTH <= held <= NTH + CONCURRENCY  # nothing new was sent after the first Ctrl-C
    states = ledger(staging)
    if twice:  # stopped at once: what was in flight has an intent and no outcome
        assert "interrupted twice" in err and "Traceback" not in err
        assert states.get("created", 0) < held and states["runs"] is None
    else:  # every send in flight finished and was recorded; the rest is left pending
        assert states.get("created", 0) == held and "unknown" not in states
        assert failure["pending"]["v1"] > 0 and "left pending: v1" in err
        assert "Traceback" not in err, err  # dlt's per-job traceback of our own stop is dropped
        assert states["runs"] == [130]
    code, out, err = push(staging, sandbox, None)
    assert code == 0, err
    result = verdict(staging, sandbox, "v1")
    assert (result.duplicates, result.missing) == (0, 0), result
    assert result.held == result.records - ledger(staging).get("api_rejected", 0)
