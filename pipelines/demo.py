"""`demo`: the whole path on bundled sample exports against the local sandbox, on both targets.

It uses its own staging file and its own persisted sandbox workspace, never the user's
engagements.duckdb or real APIs. Run twice, the second run stages and delivers nothing new.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from destinations.sandbox import SandboxConfig, SandboxServer
from pipelines.destinations_config import DestinationSettings
from pipelines.jobs import make_job
from pipelines.push import push
from pipelines.stage import stage

DEMO_DATA = Path(__file__).parent / "demo_data"
DEMO_STAGING = "engagement-sync-demo.duckdb"
DEMO_RATE = 100.0  # requests per second; the demo sandbox is configured to allow it


def sandbox_store(staging: Path) -> Path:
    return staging.resolve().with_name(staging.stem + ".sandbox.sqlite")


def run_demo(staging: Path) -> dict[str, Any]:
    """Stage the sample exports, start the sandbox, push to v1 and v2; returns the summary."""
    store = sandbox_store(staging)
    config = SandboxConfig(
        store_path=str(store),
        v1_requests_per_10s=int(DEMO_RATE * 10 * 1.5),
        v2_requests_per_second=DEMO_RATE * 1.5,
    )
    job = make_job(
        "demo",
        {
            "preset": "twilio",
            "path": str(DEMO_DATA / "exports"),
            "prefix": "demo-twilio",
            "contact_map": str(DEMO_DATA / "contacts.csv"),
        },
    )
    staged = stage(staging, [job])
    pushed = []
    with SandboxServer(config) as sandbox:
        for target, base_url in (("v1", sandbox.base_url), ("v2", sandbox.v2_base_url)):
            settings = DestinationSettings(
                target, base_url, config.token, f"sandbox:{store}", DEMO_RATE
            )
            pushed.append(push(staging, settings).as_dict())
        held = {"v1": sandbox.store.count_v1(), "v2": sandbox.store.count_v2()}
    return {
        "staging": str(staging.resolve()),
        "sandbox_store": str(store),
        "stage": [r.as_dict() for r in staged],
        "push": pushed,
        "sandbox_holds": held,
    }
