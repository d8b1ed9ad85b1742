"""`purge` erases (DESIGN invariant 9, issue 12 point 4): after it, a byte-level search of the
staging file, its WAL and dlt's folder for the staging finds none of the purged records'
personal values; the staging still works (status, a later sync reads only new files, nothing
delivered is sent again)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from destinations.sandbox import SandboxServer
from pipelines.cli import app
from pipelines.demo import DEMO_DATA
from tests.integration.conftest import destination

runner = CliRunner()
# Keys whose values are personal, in raw rows and in request bodies.
PERSONAL_KEYS = {
    "from", "to", "caller_name", "media_url", "title", "body", "toNumber", "fromNumber",
    "recordingUrl", "name", "email", "phone", "transcript", "transcript_text",
}  # fmt: skip
RECORD_COLUMNS = (
    "title", "body", "from_phone", "to_phone", "from_phone_raw", "to_phone_raw",
    "recording_url", "transcript_text", "owner_email",
)  # fmt: skip
MIN_LENGTH = 6  # shorter strings ("to", "Caller") would match unrelated bytes


@pytest.fixture
def env(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for target in ("v1", "v2"):
        settings = destination(sandbox, target)
        prefix = f"DESTINATION__ENGAGEMENTS_{target.upper()}__"
        monkeypatch.setenv(prefix + "BASE_URL", settings.base_url)
        monkeypatch.setenv(prefix + "API_TOKEN", sandbox.config.token)
        monkeypatch.setenv(prefix + "DESTINATION_ID", settings.destination_id)
        monkeypatch.setenv(prefix + "REQUESTS_PER_10S", "50000")
        monkeypatch.setenv(prefix + "REQUESTS_PER_SECOND", "5000")


def invoke(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def leaves(value: Any, keyed: bool = False) -> Iterator[str]:
    """String values under personal keys of a JSON document (all strings once under one)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, keyed or key in PERSONAL_KEYS)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, keyed)
    elif isinstance(value, str) and keyed:
        yield value


def personal_strings(staging: Path) -> set[str]:
    """Every personal value the staging holds for its records, requests and rejections."""
    found: set[str] = set()
    with duckdb.connect(str(staging), read_only=True) as con:
        for column in RECORD_COLUMNS:
            found |= {v for (v,) in con.sql(f"SELECT {column} FROM engagements.calls").fetchall()}
        documents = [
            "SELECT participants FROM engagements.calls",
            "SELECT body FROM engagements.v1_requests",
            "SELECT body FROM engagements.v2_requests",
            "SELECT request_body FROM engagements.deliveries",
            "SELECT raw FROM engagements.rejected_records",
        ]
        for query in documents:
            for (text,) in con.sql(query).fetchall():
                if text:
                    found |= set(leaves(json.loads(text), keyed="participants" in query))
        found |= {
            v for (v,) in con.sql("SELECT recording_url FROM engagements.recordings").fetchall()
        }
    return {s for s in found if isinstance(s, str) and len(s) >= MIN_LENGTH}


def stored_bytes(staging: Path) -> list[tuple[Path, bytes]]:
    """The staging, its WAL and every file dlt keeps for it."""
    paths = [staging, staging.with_name(staging.name + ".wal")]
    paths += [p for p in (staging.parent / ".engagement-sync").rglob("*") if p.is_file()]
    return [(p, p.read_bytes()) for p in paths if p.exists()]


def hits(strings: set[str], files: list[tuple[Path, bytes]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for s in sorted(strings):
        where = [p.name for p, data in files if s.encode() in data]
        if where:
            found[s] = where
    return found


def test_purge_leaves_no_personal_value_in_the_bytes_and_the_staging_works(
    tmp_path: Path, env: None, sandbox: SandboxServer
) -> None:
    exports = tmp_path / "exports"
    shutil.copytree(DEMO_DATA / "exports", exports)
    job = ["--preset", "twilio", "--path", str(exports), "--prefix", "demo-twilio"]
    job += ["--contact-map", str(DEMO_DATA / "contacts.csv")]
    staging = tmp_path / "engagement-sync.duckdb"
    first = invoke("sync", *job)
    held = sandbox.store.count_v1(), sandbox.store.count_v2()
    assert all(n > 0 for n in held)
    strings = personal_strings(staging)
    before = hits(strings, stored_bytes(staging))
    assert len(strings) > 400 and len(before) > 0.9 * len(strings)

    purged = invoke("purge", "--before", "2030-01-01")["purged"]
    assert purged["calls"] == first["jobs"][0]["staged"]
    after = hits(strings, stored_bytes(staging))
    in_file = sum(staging.name in where for where in before.values())
    print(
        f"\npurge: {len(strings)} personal strings; byte hits {len(before)} before "
        f"({in_file} in the .duckdb itself), {len(after)} after"
    )
    assert after == {}

    status = invoke("status")
    assert status["staged"]["calls"] == purged["calls"]
    assert status["targets"]["v2"]["pending"] == status["targets"]["v2"]["drifted"] == 0
    # A later sync: the incremental state survived the rewrite (only the new file is read),
    # nothing delivered is sent again, and the new record is staged and delivered.
    late = {
        "sid": "CAlate0001", "from": "+14155551001", "to": "+12125550103",
        "direction": "outbound-api", "status": "completed",
        "start_time": "2024-05-01T10:00:00Z", "duration": "60",
    }  # fmt: skip
    (exports / "late.json").write_text(json.dumps({"calls": [late]}))  # no recording: v1 only
    later = invoke("sync", *job)["jobs"][0]
    assert later["files"] == 1 and later["staged"] == 1
    assert (sandbox.store.count_v1(), sandbox.store.count_v2()) == (held[0] + 1, held[1])
