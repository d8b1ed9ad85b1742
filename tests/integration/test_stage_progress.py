"""Progress while staging, through the real stage (dlt source over export files): the whole-job
path and the streamed, partitioned one; JSON log lines outside a terminal."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines import stage as stage_module
from pipelines.cli import app
from pipelines.stage_progress import StageProgress
from sources.exports import partitions
from tests.integration.test_operations import job_args

runner = CliRunner()


@pytest.mark.parametrize("partitioned", [False, True], ids=["whole", "streamed"])
def test_stage_logs_its_progress_as_json_lines(
    sample: Path, monkeypatch: pytest.MonkeyPatch, partitioned: bool
) -> None:
    # every read shown (the interval is the only thing changed: no clock decides the test)
    monkeypatch.setattr(stage_module, "StageProgress", functools.partial(StageProgress, every_s=0))
    if partitioned:  # the sample is small: make it take the big-export path
        monkeypatch.setattr(partitions, "PARTITION_BYTES", 4096)
    result = runner.invoke(app, ["--log-format", "json", "stage", *job_args(sample), "--json"])
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)["stage"]
    logs = [json.loads(line) for line in result.stderr.splitlines()]
    progress = [e for e in logs if e["logger"] == "engagement_sync.progress"]
    assert len(progress) >= report["files"]  # at least one line per file read
    assert [p["rows"] for p in progress] == sorted(p["rows"] for p in progress)
    last = progress[-1]
    assert last["job"] == report["job"] and last["files"] == report["files"]
    assert last["rows"] >= report["staged"] > 0
    assert f"{report['files']}/{report['files']} files" in last["msg"] and "ETA 0 s" in last["msg"]
    total = sum(f.stat().st_size for f in (sample / "exports").rglob("*") if f.is_file())
    assert last["bytes"] == total
