"""A staging holding the bundled demo data (staged, not pushed), for tests that look into one."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from pipelines.demo import DEMO_DATA
from pipelines.jobs import Job, make_job
from pipelines.stage import stage

STAGING_NAME = "engagement-sync.duckdb"


def demo_job() -> Job:
    return make_job(
        "demo",
        {
            "preset": "twilio",
            "path": str(DEMO_DATA / "exports"),
            "prefix": "demo-twilio",
            "contact_map": str(DEMO_DATA / "contacts.csv"),
        },
    )


def stage_demo(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / STAGING_NAME
    stage(staging, [demo_job()])
    return staging


def copy_staging(original: Path, folder: Path) -> Path:
    """A copy of a staged file (its dlt pipelines folder is not needed to read it)."""
    target = folder / STAGING_NAME
    shutil.copyfile(original, target)
    return target


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
