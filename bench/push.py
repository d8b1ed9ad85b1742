"""Push throughput against a slow, rate-limited API, side by side with a naive loop.

    python bench/push.py [--records 5000] [--rate 100] [--latency-ms 200] [--naive 500]
    python bench/push.py --lookup [--records 2000] [--v1-per-10s 1000] [--latency-ms 20]

The sandbox answers each create after `latency_ms` and allows `rate` creates per second (v2,
429 + Retry-After beyond). engagement-sync pushes `records` staged v2 requests configured at that
rate; in the same run, a plain sequential httpx loop sends a `naive`-record sample (the
baseline). Prints achieved rate / R, share of 429s, and the speed-up over the naive loop.
Targets: >= 0.9 of R, <= 1 % 429s, >= 10x the naive loop.

--lookup: what v1's look-up before a staging's first delivery to a portal costs, at one
`requests_per_10s`: a fresh staging to an empty portal (target: at most 1 look-up per 100
pending records), then the same exports restaged into a lost staging, pushed to the portal that
already holds everything (every record found, none created). Prints look-up requests per pending
record and records/s for both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

from destinations.sandbox import SandboxConfig, SandboxServer
from pipelines.destinations_config import DestinationSettings
from pipelines.jobs import make_job
from pipelines.push import push
from pipelines.sample_data import write_twilio_sample
from pipelines.stage import stage


def staged_requests(folder: Path, records: int) -> Path:
    write_twilio_sample(folder / "sample", n_calls=records, complete=True)
    staging = folder / "bench.duckdb"
    job = make_job(
        "bench",
        {
            "preset": "twilio",
            "path": str(folder / "sample" / "exports"),
            "allow_unassociated": True,
        },
    )
    stage(staging, [job])
    return staging


def naive_loop(base_url: str, token: str, bodies: list[str]) -> float:
    """One request after the other, no pacing, no retries: requests per second."""
    started = time.monotonic()
    with httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    ) as http:
        for body in bodies:
            http.post(
                "/v2/engagements", content=body.replace('"type"', '"run_workflows":true,"type"', 1)
            )
    return len(bodies) / (time.monotonic() - started)


def lookup_bench(args: argparse.Namespace) -> None:
    """v1 look-up cost on an empty portal and on one that holds every record (lost staging)."""
    config = SandboxConfig(v1_requests_per_10s=args.v1_per_10s, latency_ms=args.latency_ms)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(config) as sandbox:
        staging = staged_requests(Path(tmp), args.records)
        settings = DestinationSettings(
            "v1", sandbox.base_url, config.token, "", args.v1_per_10s / 10, 4
        )
        for case in ("empty portal, new staging", "portal holds all, lost staging"):
            if case.startswith("portal"):
                staging.unlink()
                shutil.rmtree(Path(tmp) / ".engagement-sync")
                staging = staged_requests(Path(tmp), args.records)
            started = time.monotonic()
            report = push(staging, settings, show_progress=False)
            seconds = time.monotonic() - started
            done = report.created + report.found_existing
            rows.append(
                (
                    case,
                    report.pending + report.found_existing,
                    report.lookup_requests,
                    report.found_existing,
                    report.created,
                    seconds,
                    done / seconds,
                )
            )
        held = sandbox.store.count_v1()
    print(
        f"\nv1 look-up benchmark: {args.records} calls, requests_per_10s {args.v1_per_10s}, "
        f"latency {args.latency_ms:g} ms (sandbox holds {held} engagements at the end)"
    )
    header = ("case", "pending", "look-ups", "per record", "found", "created", "wall s", "rec/s")
    print("  " + "  ".join(f"{h:>12}" if i else f"{h:<32}" for i, h in enumerate(header)))
    for case, pending, looks, found, created, seconds, rate in rows:
        cells = [
            pending,
            looks,
            f"{looks / max(pending, 1):.4f}",
            found,
            created,
            f"{seconds:.1f}",
            f"{rate:.0f}",
        ]
        print(f"  {case:<32}  " + "  ".join(f"{c:>12}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--naive", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--lookup", action="store_true", help="v1 look-up cost instead")
    parser.add_argument("--v1-per-10s", type=int, default=1000)
    args = parser.parse_args()
    if args.lookup:
        lookup_bench(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        staging = staged_requests(Path(tmp), args.records)
        with duckdb.connect(str(staging)) as con:
            bodies = [
                r[0] for r in con.execute("SELECT body FROM engagements.v2_requests").fetchall()
            ]
        config = SandboxConfig(v2_requests_per_second=args.rate, latency_ms=args.latency_ms)
        with SandboxServer(config) as sandbox:
            settings = DestinationSettings(
                "v2", sandbox.v2_base_url, config.token, "bench", args.rate, args.concurrency
            )
            started = time.monotonic()
            report = push(staging, settings, show_progress=False)
            seconds = time.monotonic() - started
        with SandboxServer(
            SandboxConfig(v2_requests_per_second=1e6, latency_ms=args.latency_ms)
        ) as naive_sandbox:
            naive_rate = naive_loop(naive_sandbox.v2_base_url, config.token, bodies[: args.naive])
    achieved = report.created / seconds
    rows = [
        ("records pushed", f"{report.created}"),
        ("requests sent", f"{report.requests}"),
        ("wall seconds (push incl. dlt)", f"{seconds:.1f}"),
        ("achieved creates/s", f"{achieved:.1f}"),
        ("achieved / R", f"{achieved / args.rate:.2f}  (target >= 0.90)"),
        ("429 share", f"{report.throttled / max(report.requests, 1):.2%}  (target <= 1 %)"),
        (f"naive loop creates/s ({args.naive} records)", f"{naive_rate:.1f}"),
        ("speed-up vs naive", f"{achieved / naive_rate:.1f}x  (target >= 10x)"),
    ]
    print(
        f"\npush benchmark: v2, R = {args.rate:g}/s, latency {args.latency_ms:g} ms, "
        f"concurrency {args.concurrency}"
    )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
