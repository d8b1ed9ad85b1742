"""DESIGN invariant 3: external_id is a pure function of the source record (prefix + source id)."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from sources.engagements.model import make_external_id
from sources.engagements.settings import BuildSettings
from sources.exports.outputs import StageOutputs
from sources.exports.source import ExportJob, stage_files

JOB = ExportJob(
    name="calls", preset="twilio", bucket_url="file:///exports", file_glob="*.json", prefix="twilio"
)
SETTINGS = BuildSettings(source_system="twilio", allow_unassociated=True)


def _call(
    sid: str,
    parent: str | None = None,
    start: str = "Mon, 15 Apr 2024 14:00:00 +0000",
    **extra: str,
) -> dict[str, Any]:
    return {
        "sid": sid,
        "parent_call_sid": parent,
        "from": "+14155550100",
        "to": "+14155552671",
        "direction": "outbound-api",
        "status": "completed",
        "duration": "38",
        "start_time": start,
        "end_time": "Mon, 15 Apr 2024 14:00:38 +0000",
        **extra,
    }


CALLS = json.dumps(
    {
        "calls": [
            _call("CA01"),
            _call("CA02", start="Mon, 15 Apr 2024 16:00:00 +0200"),
            _call("CA03", parent="CA01"),
            _call("CA04", parent="CA99"),
        ]
    }
).encode()
RECORDINGS = json.dumps(
    {
        "recordings": [
            {
                "sid": "RE01",
                "call_sid": "CA01",
                "status": "completed",
                "media_url": "http://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE01",
            },
            {
                "sid": "RE99",
                "call_sid": "CA99",
                "status": "completed",
                "uri": "/2010-04-01/Accounts/AC1/Recordings/RE99.json",
            },
        ]
    }
).encode()


def stage(files: dict[str, bytes]) -> StageOutputs:
    return stage_files(
        [(path, lambda data=data: data) for path, data in files.items()], JOB, SETTINGS
    )


def keyed(table: pa.Table, *columns: str) -> dict[str, tuple[Any, ...]]:
    rows = table.to_pylist()
    return {r["external_id"]: tuple(r[c] for c in columns) for r in rows}


@pytest.mark.parametrize(
    ("prefix", "source_id", "external_id"),
    [
        ("twilio", "CA01", "twilio:CA01"),
        ("my-crm", "12345", "my-crm:12345"),
        ("a:b", "c:d", "a:b:c:d"),
        ("录音", "ID 7", "录音:ID 7"),
    ],
)
def test_make_external_id(prefix: str, source_id: str, external_id: str) -> None:
    assert make_external_id(prefix, source_id) == external_id


def test_same_input_twice_gives_the_same_ids_and_hashes() -> None:
    files = {"calls.json": CALLS, "recordings.json": RECORDINGS}
    first, second = stage(files), stage(files)
    assert first.staged == 3
    for name in ("calls", "v1_requests", "v2_requests"):
        assert first.tables[name].num_rows > 0
        assert first.tables[name].equals(second.tables[name]), name
    assert sorted(keyed(first.tables["calls"])) == ["twilio:CA01", "twilio:CA02", "twilio:CA99"]


def test_ids_and_hashes_do_not_depend_on_file_names_or_order() -> None:
    first = stage({"calls.json": CALLS, "recordings.json": RECORDINGS})
    moved = stage({"2024/04/recordings-copy.json": RECORDINGS, "2024/04/calls-copy.json": CALLS})
    assert keyed(first.tables["calls"], "content_hash") == keyed(
        moved.tables["calls"], "content_hash"
    )
    for name in ("v1_requests", "v2_requests"):
        assert keyed(first.tables[name], "content_hash", "body") == keyed(
            moved.tables[name], "content_hash", "body"
        ), name
    assert set(moved.tables["calls"].column("source_file").to_pylist()) == {
        "2024/04/calls-copy.json"
    }


def test_external_id_is_prefix_and_source_id() -> None:
    out = stage({"calls.json": CALLS, "recordings.json": RECORDINGS})
    for row in out.tables["calls"].to_pylist():
        assert row["external_id"] == make_external_id("twilio", row["source_id"])
    for name in ("v1_requests", "v2_requests"):
        for row in out.tables[name].to_pylist():
            body = json.loads(row["body"])
            sent_id = body.get("external_id") or body["metadata"]["externalId"]
            assert sent_id == row["external_id"]


def test_a_changed_call_keeps_its_id_and_changes_its_hash() -> None:
    changed = CALLS.replace(b'"duration": "38"', b'"duration": "39"', 1)
    before, after = stage({"calls.json": CALLS}), stage({"calls.json": changed})
    old, new = (
        keyed(before.tables["calls"], "content_hash"),
        keyed(after.tables["calls"], "content_hash"),
    )
    assert old.keys() == new.keys()
    assert old["twilio:CA01"] != new["twilio:CA01"]
    assert old["twilio:CA02"] == new["twilio:CA02"]
