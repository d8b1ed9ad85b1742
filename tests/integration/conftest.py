"""Fixtures for integration tests: a real sandbox on 127.0.0.1, sample exports, destinations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from destinations.sandbox import SandboxConfig, SandboxServer
from pipelines.destinations_config import DestinationSettings
from pipelines.jobs import Job, make_job
from pipelines.sample_data import write_twilio_sample

FAST = SandboxConfig(v1_requests_per_10s=100_000, v2_requests_per_second=10_000)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(FAST) as server:
        yield server


def destination(
    sandbox: SandboxServer, target: str, token: str | None = None, rate: float = 500.0
) -> DestinationSettings:
    base = sandbox.base_url if target == "v1" else sandbox.v2_base_url
    return DestinationSettings(
        target, base, token or sandbox.config.token, f"sandbox-test:{base}", rate
    )


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    write_twilio_sample(tmp_path / "sample", n_calls=60)
    return tmp_path / "sample"


@pytest.fixture
def sample_job(sample: Path) -> Job:
    return make_job(
        "calls",
        {
            "preset": "twilio",
            "path": str(sample / "exports"),
            "contact_map": str(sample / "contacts.csv"),
        },
    )


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    return tmp_path / "engagement-sync.duckdb"
