"""Delivery truth trials: a lost staging and a second workspace behind one base URL.

    python bench/identity_trials.py [--calls 150]

Against an in-process sandbox serving two portals/workspaces behind one URL (one per token):
push both targets, lose the staging (file and dlt state deleted), stage the same exports again
and push; then push the same staging with the second token. Prints the sandbox's own counts:
engagements held and the most held for any one record (1 = no duplicate), per step.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

from destinations.sandbox import SandboxConfig, SandboxServer
from pipelines.destinations_config import DestinationSettings
from pipelines.jobs import make_job
from pipelines.push import push
from pipelines.sample_data import write_twilio_sample
from pipelines.stage import stage

PORTAL_A, PORTAL_B = 62515, 77001


def held(sandbox: SandboxServer, portal: int) -> list[str]:
    """`held/most` for v1 (by what v1 stores) and v2 (by external_id) in one portal."""
    v1 = Counter(
        (e["timestamp"], e["metadata"].get("toNumber"), e["metadata"].get("fromNumber"))
        for e in sandbox.store.v1_engagements(portal)
    )
    v2 = Counter(e["external_id"] for e in sandbox.store.v2_engagements(portal))
    return [f"{sum(c.values())}/{max(c.values(), default=0)}" for c in (v1, v2)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=150)
    args = parser.parse_args()
    config = SandboxConfig(
        v1_requests_per_10s=100_000, v2_requests_per_second=10_000, tenants=(("token-b", PORTAL_B),)
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(config) as sandbox:
        folder = Path(tmp)
        write_twilio_sample(folder / "s", n_calls=args.calls, complete=True)
        job = make_job(
            "calls",
            {"preset": "twilio", "path": str(folder / "s" / "exports"), "allow_unassociated": True},
        )
        staging = folder / "engagement-sync.duckdb"

        def run(step: str, token: str, portal: int) -> None:
            for target in ("v1", "v2"):
                base = sandbox.base_url if target == "v1" else sandbox.v2_base_url
                settings = DestinationSettings(target, base, token, "", 500.0)
                r = push(staging, settings, show_progress=False)
                rows.append(
                    (
                        step,
                        target,
                        r.created,
                        r.existing + r.found_existing,
                        r.lookup_requests,
                        *held(sandbox, portal)[: 1 if target == "v1" else 2][-1:],
                    )
                )

        stage(staging, [job])
        run("first push, portal A", config.token, PORTAL_A)
        staging.unlink()
        shutil.rmtree(folder / ".engagement-sync")
        stage(staging, [job])
        run("lost staging, portal A", config.token, PORTAL_A)
        run("same staging, portal B", "token-b", PORTAL_B)
        final = held(sandbox, PORTAL_A) + held(sandbox, PORTAL_B)
    header = ("step", "target", "created", "existing", "look-ups", "held/most")
    print(f"\n{args.calls} Twilio calls; held/most: engagements held / most for one record")
    print("  " + "  ".join(f"{h:<24}" if i == 0 else f"{h:>10}" for i, h in enumerate(header)))
    for row in rows:
        print("  " + "  ".join(f"{c!s:<24}" if i == 0 else f"{c!s:>10}" for i, c in enumerate(row)))
    print(f"  end: portal A v1 {final[0]}, v2 {final[1]}; portal B v1 {final[2]}, v2 {final[3]}")


if __name__ == "__main__":
    main()
