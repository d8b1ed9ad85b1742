"""DESIGN invariant 5: the API token never leaves .dlt/secrets.toml / env — not in stdout,
stderr, logs, the DuckDB staging, dlt's pipeline state or its traces."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from destinations.sandbox import SandboxConfig, SandboxServer
from pipelines.sample_data import write_twilio_sample

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tok-5ecret-7f3a9c1e-do-not-print"


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=300,
    )


def test_the_token_is_nowhere_but_where_the_user_put_it(tmp_path: Path) -> None:
    write_twilio_sample(tmp_path / "sample", n_calls=40)
    with SandboxServer(
        SandboxConfig(token=TOKEN, v1_requests_per_10s=10_000, v2_requests_per_second=1_000)
    ) as sandbox:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RUNTIME__LOG_LEVEL": "DEBUG",
            "DESTINATION__ENGAGEMENTS_V1__BASE_URL": sandbox.base_url,
            "DESTINATION__ENGAGEMENTS_V2__BASE_URL": sandbox.v2_base_url,
            "DESTINATION__ENGAGEMENTS_V1__API_TOKEN": TOKEN,
            "DESTINATION__ENGAGEMENTS_V2__API_TOKEN": TOKEN,
        }
        job = [
            "--preset",
            "twilio",
            "--path",
            str(tmp_path / "sample" / "exports"),
            "--contact-map",
            str(tmp_path / "sample" / "contacts.csv"),
        ]
        ok = run(["sync", *job], env, tmp_path)
        assert ok.returncode == 0, ok.stderr.decode()[-2000:]
        assert sandbox.store.count_v2() > 0
        # A failing run too: the token is refused, the error message is printed.
        bad = {**env, "DESTINATION__ENGAGEMENTS_V2__API_TOKEN": TOKEN + "-wrong"}
        (tmp_path / "sample" / "exports" / "late.json").write_text(
            '{"calls": [{"sid": "CAffff", "from": "+14155550100", "to": "+14155550101", '
            '"start_time": "2024-05-01T10:00:00Z"}], "recordings": [{"call_sid": "CAffff", '
            '"media_url": "https://api.twilio.com/x/REffff"}]}'
        )
        failed = run(["sync", *job, "--target", "v2"], bad, tmp_path)
        assert failed.returncode == 1, failed.stdout.decode()[-3000:]
        status = run(["status", "--json"], env, tmp_path)
    for output in (ok.stdout, ok.stderr, failed.stdout, failed.stderr, status.stdout):
        assert TOKEN.encode() not in output
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert leaks == []
    assert list(tmp_path.glob(".engagement-sync/*/*"))  # dlt state and traces were scanned
