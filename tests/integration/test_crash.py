"""SIGKILL a push at seeded random creates, rerun until done: each record is one engagement.

A subprocess pushes ~1,200 staged records to the sandbox (in this process, so it outlives the
kills). It is killed at a seeded random create (inside the sandbox, before that create is
answered, while other sends and ledger writes are in flight), and run again until a run
completes. Then the sandbox must hold exactly one engagement per staged request: no duplicates
(v1 has no idempotency key: reconciliation must find what was sent), none missing.
bench/reliability.py runs the same at scale, with faults on.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from destinations.sandbox import SandboxServer
from pipelines.jobs import make_job
from pipelines.sample_data import write_twilio_sample
from pipelines.stage import stage
from tests.integration.crash_harness import push_env, run_until_done, verdict

TRIALS = 3  # x 2 kills per target; bench/reliability.py runs 50 kills per target


@pytest.mark.slow
@pytest.mark.parametrize("target", ["v1", "v2"])
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    tmp_path: Path, sandbox: SandboxServer, target: str
) -> None:
    write_twilio_sample(tmp_path / "sample", n_calls=1200, complete=True)
    job = make_job(
        "calls",
        {
            "preset": "twilio",
            "path": str(tmp_path / "sample" / "exports"),
            "contact_map": str(tmp_path / "sample" / "contacts.csv"),
        },
    )
    rng = random.Random(20261121 + (target == "v2"))
    kills = 0
    for trial in range(TRIALS):
        staging = tmp_path / f"trial-{trial}.duckdb"
        stage(staging, [job])
        sandbox.store.reset()
        kills += run_until_done(staging, target, push_env(sandbox, target), rng, sandbox)
        result = verdict(staging, sandbox, target)
        assert result.records >= 900
        assert (result.duplicates, result.missing) == (0, 0), f"trial {trial}: {result}"
        assert result.held == result.records
    assert kills == 2 * TRIALS  # every kill fell mid-run, at a create
