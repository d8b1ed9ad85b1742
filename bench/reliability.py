"""Exactly-once at scale: many SIGKILLs per target, with the sandbox's fault mix switched on.

    python bench/reliability.py [--kills 50] [--records 2000] [--kills-per-trial 5] [--seed 1]

Per target: trials of (stage ~records, push in a subprocess killed at seeded random creates, rerun
until done), against a sandbox with latency, 5xx, lost responses, read timeouts and 429 storms.
Prints trials, records, duplicates, missing, requests sent and 429s. Not part of the test run
(tests/integration/test_crash.py runs a small version of it).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

from destinations.sandbox import SandboxConfig, SandboxServer
from pipelines.jobs import make_job
from pipelines.sample_data import write_twilio_sample
from pipelines.stage import stage
from tests.integration.crash_harness import push_env, run_until_done, verdict

FAULT_MIX = {
    "latency_ms": 20,
    "error_rate": 0.03,
    "lost_response_rate": 0.03,
    "read_timeout_rate": 0.01,
    "read_timeout_s": 5.0,
    "storm_every": 200,
    "storm_length": 5,
}


def run_target(target: str, args: argparse.Namespace, folder: Path) -> list[object]:
    write_twilio_sample(folder / "sample", n_calls=args.records, complete=True)
    job = make_job(
        "bench",
        {
            "preset": "twilio",
            "path": str(folder / "sample" / "exports"),
            "contact_map": str(folder / "sample" / "contacts.csv"),
        },
    )
    rng = random.Random(args.seed + (target == "v2"))
    trials = kills = records = duplicates = missing = requests = throttled = 0
    config = SandboxConfig(
        seed=args.seed, v1_requests_per_10s=100_000, v2_requests_per_second=10_000, **FAULT_MIX
    )
    with SandboxServer(config) as sandbox:
        while kills < args.kills:
            staging = folder / f"{target}-{trials}.duckdb"
            stage(staging, [job])
            sandbox.store.reset()
            kills += run_until_done(
                staging,
                target,
                push_env(sandbox, target),
                rng,
                sandbox,
                kills=args.kills_per_trial,
            )
            result = verdict(staging, sandbox, target)
            trials += 1
            records += result.records
            duplicates += result.duplicates
            missing += result.missing
            print(f"  {target} trial {trials}: {kills} kills so far, {result}", flush=True)
        counts = sandbox.fault_counts()  # counted over the server's life, all trials
        requests, throttled = counts["requests"], counts["throttled_429"]
    return [target, trials, kills, records, duplicates, missing, requests, throttled]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=50, help="kills per target")
    parser.add_argument("--kills-per-trial", type=int, default=5)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--targets", default="v1,v2")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for target in args.targets.split(","):
            rows.append(run_target(target, args, Path(tmp) / target))
    header = [
        "target",
        "trials",
        "kills",
        "records",
        "duplicates",
        "missing",
        "requests sent",
        "429s",
    ]
    print(
        "\nreliability benchmark (fault mix: "
        + ", ".join(f"{k}={v}" for k, v in FAULT_MIX.items())
        + ")"
    )
    print("  ".join(h.rjust(13) for h in header))
    for row in rows:
        print("  ".join(str(v).rjust(13) for v in row))
    ok = all(r[4] == 0 and r[5] == 0 for r in rows)
    print("PASS: zero duplicates, zero missing" if ok else "FAIL: duplicates or missing records")


if __name__ == "__main__":
    main()
