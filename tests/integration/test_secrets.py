"""DESIGN invariants 5 and 9: the API token never leaves .dlt/secrets.toml / env — not in stdout,
stderr, logs, the DuckDB staging, dlt's pipeline state or its traces — whatever it contains."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from destinations.engagements.ledger import Ledger
from destinations.engagements.redact import register
from destinations.sandbox import SandboxConfig, SandboxServer
from pipelines.cli import app
from pipelines.destinations_config import clean_token
from pipelines.sample_data import write_twilio_sample
from sources.errors import ConfigError

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


# --- A secret is never echoed, whatever it contains (issue 12 point 5) ---

SPACED = "  tok-5ecret-spaced-4e1b\n"  # a secrets file ending in a newline, a pasted space
BAD_TOKENS = {
    "nul": "tok-5ecret\x00-inner-nul",
    "tab": "tok-5ecret\t-inner-tab",
    "newline": "tok-5ecret\n-inner-newline",
    "space": "tok-5ecret -inner-space",
    "non-ascii": "tok-5ecret-é-accent",
}


def test_surrounding_whitespace_is_stripped_and_the_push_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_twilio_sample(tmp_path / "sample", n_calls=10)
    with SandboxServer(SandboxConfig(token=SPACED.strip())) as sandbox:
        monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__BASE_URL", sandbox.v2_base_url)
        monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__API_TOKEN", SPACED)
        job = ["--preset", "twilio", "--path", str(tmp_path / "sample" / "exports")]
        result = CliRunner().invoke(app, ["sync", *job, "--target", "v2", "--json"])
        assert result.exit_code == 0, result.output
        assert sandbox.store.count_v2() > 0


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_token_with_an_inner_control_or_non_ascii_character_is_refused_unechoed(
    token: str,
) -> None:
    with pytest.raises(ConfigError) as caught:
        clean_token("v2", token)
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and "[destination.engagements_v2]" in message
    assert "api_token" in message and "DESTINATION__ENGAGEMENTS_V2__API_TOKEN" in message
    assert all(part not in message for part in [*token.split(), "5ecret"])


def test_a_nul_in_secrets_toml_is_one_line_exit_2_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text(
        '[destination.engagements_v2]\napi_token = "tok-5ecret\\u0000x-rest"\n'
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DESTINATION__ENGAGEMENTS_V2__API_TOKEN", None)
    done = run(["push", "--target", "v2"], env, tmp_path)
    assert done.returncode == 2, done.stderr
    err = done.stderr.decode()
    assert len(err.splitlines()) == 1 and "api_token" in err and "position 11" in err
    assert "5ecret" not in err and "x-rest" not in err


# What httpx said of a token with a newline before stripping existed (the report).
PATCHED_PUSH = """
import logging, sys
import httpx
from destinations.engagements.client import EngagementsClient
def probe(self):
    token = self._http.headers["Authorization"].split(" ", 1)[1]
    logging.getLogger("engagement_sync.test").warning("probing with %s", token)
    raise httpx.LocalProtocolError(f"Illegal header value b'Bearer {token}'")
EngagementsClient.probe = probe
from pipelines.cli import main
sys.argv = ["engagement-sync", *sys.argv[1:]]
main()
"""


def test_an_exception_quoting_the_token_is_redacted_in_runs_stderr_and_logs(
    tmp_path: Path,
) -> None:
    write_twilio_sample(tmp_path / "sample", n_calls=10)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DESTINATION__ENGAGEMENTS_V2__BASE_URL": "http://127.0.0.1:9/api",
        "DESTINATION__ENGAGEMENTS_V2__API_TOKEN": TOKEN,
    }
    job = ["--preset", "twilio", "--path", str(tmp_path / "sample" / "exports")]
    done = subprocess.run(
        [sys.executable, "-c", PATCHED_PUSH, "sync", *job, "--target", "v2"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert b"LocalProtocolError" in done.stderr and b"***" in done.stderr  # said, redacted
    assert TOKEN.encode() not in done.stdout + done.stderr
    with duckdb.connect(str(tmp_path / "engagement-sync.duckdb"), read_only=True) as con:
        [(error,)] = con.sql("SELECT error FROM engagements.runs").fetchall()
    assert "Illegal header value" in error and TOKEN not in error
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert leaks == []


def test_the_ledger_stores_errors_with_secrets_redacted(tmp_path: Path) -> None:
    register(TOKEN)
    with duckdb.connect(str(tmp_path / "l.duckdb")) as con:
        ledger = Ledger(con, "dest", "v2", "run")
        ledger.outcome("x:1", "pending", error=f"upstream said: Bearer {TOKEN}", note=TOKEN)
        ledger.close()
    with duckdb.connect(str(tmp_path / "l.duckdb")) as con:
        [(error, note)] = con.sql("SELECT error, note FROM engagements.deliveries").fetchall()
    assert error == "upstream said: Bearer ***" and note == "***"


def test_bucket_and_source_secrets_are_redacted_once_resolved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not only the destination tokens: a relay bucket's secret key and a source's auth token
    are taken out of every error and log line as soon as they are resolved."""
    from destinations.engagements.redact import redact
    from pipelines.buckets import bucket_filesystem
    from pipelines.relay_config import source_headers
    from sources.engagements.relay import RelaySettings

    monkeypatch.setenv("ENGAGEMENT_SYNC__RELAY__CREDENTIALS__AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv(
        "ENGAGEMENT_SYNC__RELAY__CREDENTIALS__AWS_SECRET_ACCESS_KEY", "bucket-s3cr3t-9"
    )
    monkeypatch.setenv("SOURCES__TWILIO__ACCOUNT_SID", "AC123")
    monkeypatch.setenv("SOURCES__TWILIO__AUTH_TOKEN", "twilio-s3cr3t-7")
    bucket_filesystem("s3://bucket/prefix", ("engagement_sync", "relay"), "relay", "fix")
    source_headers(RelaySettings(job="calls", preset="twilio", url="s3://bucket/prefix"))
    said = redact("failed with bucket-s3cr3t-9 and twilio-s3cr3t-7")
    assert said is not None and "s3cr3t" not in said
