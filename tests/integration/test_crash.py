"""SIGKILL a push at a random moment, rerun until done: each record is one engagement.

A subprocess pushes ~2,000 staged records to the sandbox (in this process, so it outlives the
kills). It is killed at a seeded random moment, possibly mid-send or mid-ledger-write, and run
again until a run completes. Then the sandbox must hold exactly one engagement per staged
request: no duplicates (v1 has no idempotency key: reconciliation must find what was sent),
none missing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from destinations.sandbox import SandboxServer
from pipelines.jobs import make_job
from pipelines.sample_data import write_twilio_sample
from pipelines.stage import stage
from tests.integration.conftest import destination

TRIALS = 5
ROOT = Path(__file__).resolve().parents[2]


def push_env(sandbox: SandboxServer, target: str) -> dict[str, str]:
    settings = destination(sandbox, target)
    prefix = f"DESTINATION__ENGAGEMENTS_{target.upper()}__"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESTINATION__")}
    env.update(
        {
            prefix + "BASE_URL": settings.base_url,
            prefix + "API_TOKEN": "sandbox-token",
            prefix + "DESTINATION_ID": settings.destination_id,
            prefix + "REQUESTS_PER_10S": "20000",
            prefix + "REQUESTS_PER_SECOND": "2000",
            prefix + "MAX_CONCURRENCY": "8",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def run_until_done(staging: Path, target: str, env: dict[str, str], rng: random.Random) -> int:
    """Push with a kill after a random delay; then once more without; returns the kills."""
    command = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "push",
        "--staging",
        str(staging),
        "--target",
        target,
        "--json",
    ]
    kills = 0
    for attempt in range(8):
        process = subprocess.Popen(
            command, env=env, cwd=staging.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        if attempt < 2:  # two kills per trial, at different moments
            time.sleep(rng.uniform(1.5, 4.0))  # imports take ~1.5 s; sending ~2 s
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
        out, err = process.communicate(timeout=120)
        if process.returncode == 0:
            report = json.loads(out)["push"][0]
            if report["pending"] == 0:
                return kills
        elif process.returncode != -signal.SIGKILL:
            raise AssertionError(f"push failed ({process.returncode}): {err.decode()[-2000:]}")
    raise AssertionError("push never completed")


def staged(staging: Path, target: str) -> list[str]:
    with duckdb.connect(str(staging)) as con:
        rows = con.execute(f"SELECT external_id FROM engagements.{target}_requests").fetchall()
    return [r[0] for r in rows]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["v1", "v2"])
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    tmp_path: Path, sandbox: SandboxServer, target: str
) -> None:
    write_twilio_sample(tmp_path / "sample", n_calls=2000, complete=True)
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
        kills += run_until_done(staging, target, push_env(sandbox, target), rng)
        ids = staged(staging, target)
        assert len(ids) >= 1500
        if target == "v2":
            held = Counter(e["external_id"] for e in sandbox.store.v2_engagements())
            assert sorted(held) == sorted(ids) and max(held.values()) == 1, f"trial {trial}"
        else:
            held = Counter(
                (e["timestamp"], e["metadata"].get("toNumber"), e["metadata"].get("fromNumber"))
                for e in sandbox.store.v1_engagements()
            )
            assert sum(held.values()) == len(ids), f"trial {trial}: {sum(held.values())}"
            assert max(held.values()) == 1, f"trial {trial}: duplicates"
    assert kills >= TRIALS  # the kills really happened mid-run
