"""Per-test isolation: env vars, the working directory and dlt's data dir (STYLE.md, Tests)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures"
SEEDS = SHARED / "seeds"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test runs in its own empty folder with no engagement-sync settings from the env."""
    for key in list(os.environ):
        if key.startswith(
            (
                "DESTINATION__",
                "SOURCES__",
                "ENGAGEMENT_SYNC__",
                "LOAD__",
                "NORMALIZE__",
                "EXTRACT__",
            )
        ):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip("../shared/fixtures is not present (CI and developers have it; clones don't)")
    return FIXTURES


@pytest.fixture
def seeds_dir() -> Path:
    if not SEEDS.is_dir():
        pytest.skip("../shared/seeds is not present (CI and developers have it; clones don't)")
    return SEEDS
