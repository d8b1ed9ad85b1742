"""Kill-and-rerun harness shared by the crash test and bench/reliability.py.

A subprocess runs `engagement-sync push` against a sandbox that lives in the calling process
(so it outlives the kills); it is SIGKILLed after a seeded random delay, then run again, until a
run completes with nothing pending. The sandbox's store then says whether each staged request
became exactly one engagement.
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
from dataclasses import dataclass
from pathlib import Path

import duckdb

from destinations.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parents[2]


def push_env(sandbox: SandboxServer, target: str, concurrency: int = 8) -> dict[str, str]:
    base = sandbox.base_url if target == "v1" else sandbox.v2_base_url
    prefix = f"DESTINATION__ENGAGEMENTS_{target.upper()}__"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESTINATION__")}
    env.update(
        {
            prefix + "BASE_URL": base,
            prefix + "API_TOKEN": sandbox.config.token,
            prefix + "DESTINATION_ID": f"sandbox-crash:{base}",
            prefix + "REQUESTS_PER_10S": "20000",
            prefix + "REQUESTS_PER_SECOND": "2000",
            prefix + "MAX_CONCURRENCY": str(concurrency),
            prefix + "TIMEOUT": "3",
            "PYTHONPATH": str(ROOT),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
    )
    return env


def run_until_done(
    staging: Path,
    target: str,
    env: dict[str, str],
    rng: random.Random,
    kills: int = 2,
    window: tuple[float, float] = (1.5, 4.0),
) -> int:
    """Push, SIGKILLing the first `kills` runs after a random delay; returns kills done."""
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
    done_kills = 0
    for attempt in range(kills + 10):
        process = subprocess.Popen(
            command, env=env, cwd=staging.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        if attempt < kills:
            time.sleep(rng.uniform(*window))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                done_kills += 1
        out, err = process.communicate(timeout=300)
        if process.returncode == 0 and json.loads(out)["push"][0]["pending"] == 0:
            return done_kills
        if process.returncode not in (0, 1, -signal.SIGKILL):
            raise AssertionError(f"push failed ({process.returncode}): {err.decode()[-2000:]}")
    raise AssertionError("push never completed")


@dataclass
class Verdict:
    records: int
    held: int
    duplicates: int
    missing: int


def verdict(staging: Path, sandbox: SandboxServer, target: str) -> Verdict:
    with duckdb.connect(str(staging)) as con:
        ids = [
            r[0]
            for r in con.execute(
                f"SELECT external_id FROM engagements.{target}_requests"
            ).fetchall()
        ]
        refused = {
            r[0]
            for r in con.execute(
                "SELECT external_id FROM engagements.delivery_states WHERE target = ? "
                "AND state = 'api_rejected'",
                [target],
            ).fetchall()
        }
    if target == "v2":
        held = Counter(e["external_id"] for e in sandbox.store.v2_engagements())
        missing = len(set(ids) - set(held) - refused)
    else:
        held = Counter(
            (e["timestamp"], e["metadata"].get("toNumber"), e["metadata"].get("fromNumber"))
            for e in sandbox.store.v1_engagements()
        )
        missing = max(0, len(ids) - len(refused) - len(held))
    return Verdict(
        len(ids), sum(held.values()), sum(n - 1 for n in held.values() if n > 1), missing
    )
