"""Kill-and-rerun harness shared by the crash test and bench/reliability.py.

A subprocess runs `engagement-sync push` against a sandbox that lives in the calling process
(so it outlives the kills); it is SIGKILLed at a seeded random create (an event the sandbox
reports, never a delay), then run again, until a run completes with nothing pending. The
sandbox's store then says whether each staged request became exactly one engagement. `Where`
lets each run happen elsewhere: a bucket staging, another working directory (another machine).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
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
            prefix + "REQUESTS_PER_10S": "20000",
            prefix + "REQUESTS_PER_SECOND": "2000",
            prefix + "MAX_CONCURRENCY": str(concurrency),
            prefix + "TIMEOUT": "3",
            "PYTHONPATH": str(ROOT),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
    )
    return env


@dataclass(frozen=True)
class Where:
    """Where each run happens: `staging` as passed to --staging (a path or a bucket URL), the
    working directory of attempt N (another folder: another machine), how many requests are
    staged (for a bucket staging the test counts them), and what happens before each attempt
    (e.g. the dead run's lease expiring)."""

    staging: str
    cwd: Callable[[int], Path]
    staged: int
    before: Callable[[int], None] = lambda attempt: None


def run_until_done(
    staging: Path,
    target: str,
    env: dict[str, str],
    rng: random.Random,
    sandbox: SandboxServer,
    kills: int = 2,
    where: Where | None = None,
) -> int:
    """Push, SIGKILLing each of the first `kills` runs at its Nth create; returns kills done.

    N is seeded-random among the records still missing, and the kill fires inside the sandbox
    right after the engagement is stored and before it is answered (that response is lost too):
    the kill point is an event, so it falls mid-run however fast or busy the machine is.
    """
    if where is None:
        where = Where(str(staging), lambda _: staging.parent, _staged_count(staging, target))
    command = [sys.executable, "-m", "pipelines.cli", "push", "--staging", where.staging]
    command += ["--target", target, "--json"]
    done_kills = 0
    for attempt in range(kills + 10):
        where.before(attempt)
        killer = _arm_killer(target, sandbox, where.staged, rng, attempt < kills)
        cwd = where.cwd(attempt)
        cwd.mkdir(parents=True, exist_ok=True)
        killer.process = process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            out, err = process.communicate(timeout=300)
        finally:
            killer.stop()
        done_kills += killer.fired
        if process.returncode == 0 and json.loads(out)["push"][0]["pending"] == 0:
            return done_kills
        if process.returncode not in (0, 1, -signal.SIGKILL):
            raise AssertionError(f"push failed ({process.returncode}): {err.decode()[-2000:]}")
    raise AssertionError("push never completed")


class _Killer:
    """SIGKILLs a process from the sandbox's create callback once `left` creates have passed."""

    def __init__(self, target: str, left: int) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.target, self.left = target, left
        self.fired = 0
        self._lock = threading.Lock()
        self.stop: Callable[[], None] = lambda: None

    def __call__(self, api: str) -> None:
        with self._lock:
            if api != self.target or self.process is None or self.fired or self.left <= 0:
                return
            self.left -= 1
            if self.left == 0 and self.process.poll() is None:
                self.process.kill()
                self.fired = 1


def _arm_killer(
    target: str,
    sandbox: SandboxServer,
    staged: int,
    rng: random.Random,
    armed: bool,
) -> _Killer:
    missing = staged - _held_count(sandbox, target)
    left = rng.randint(1, missing - 1) if armed and missing > 1 else 0
    killer = _Killer(target, left)
    if left:
        killer.stop = sandbox.store.watch_creates(killer)
    return killer


def _staged_count(staging: Path, target: str) -> int:
    with duckdb.connect(str(staging), read_only=True) as con:
        [(n,)] = con.execute(f"SELECT count(*) FROM engagements.{target}_requests").fetchall()
    return int(n)


def _held_count(sandbox: SandboxServer, target: str) -> int:
    return sandbox.store.count_v1() if target == "v1" else sandbox.store.count_v2()


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
