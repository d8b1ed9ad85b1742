"""The Dialpad preset on hand-written call records (tests/unit/samples/dialpad): int64 values as
strings, ms epochs and ms durations, master/leg calls, call events out of order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.engagements.settings import BuildSettings
from sources.exports.canonical import MapContext, MappedRows, SourceFile
from sources.exports.presets import dialpad, get_preset
from sources.exports.readers import read_collections
from sources.exports.source import ExportJob, stage_files
from tests.unit.preset_checks import accounted

SAMPLES = Path(__file__).parent / "samples" / "dialpad"
NAMES = ("call_get.json", "calls_page.json", "events.jsonl")
CTX = MapContext(prefix="dialpad", source_system="dialpad", default_region="US")
SETTINGS = BuildSettings(source_system="dialpad", allow_unassociated=True)
JOB = ExportJob("calls", "dialpad", "file:///exports", "*", "dialpad")
MASTER = "5000000000000000001"  # above 2^53


def source(name: str, data: bytes | None = None) -> SourceFile:
    return SourceFile(name, read_collections(name, data or (SAMPLES / name).read_bytes()))


def by_id(result: MappedRows) -> dict[str, dict[str, Any]]:
    return {r["source_id"]: r for r in result.records.to_pylist()}


def test_registered() -> None:
    assert get_preset("dialpad").map_files is dialpad.map_files


@pytest.mark.parametrize(
    ("call_id", "expected"),
    [
        (
            "1002",
            {
                # date_connected "1356998405000" ms: `duration` counts from the connection, so
                # start + duration is date_ended
                "started_at": datetime(2013, 1, 1, 0, 0, 5, tzinfo=UTC),
                "ended_at": datetime(2013, 1, 1, 0, 2, 5, 500_000, tzinfo=UTC),
                "duration_ms": 120_500,  # a double of ms
                "direction": "inbound",
                "from_phone": "+14155550100",  # inbound: from the external number
                "to_phone": "+16505550199",
                "status": "completed",
                "status_raw": "hangup",
                "owner_email": "sam@example.com",
                "recording_url": "https://dialpad.example/recording/1002.mp3",  # not voicemail
                "transcript_text": "Hi, this is Pat. I'd like a quote.",
            },
        ),
        (
            MASTER,
            {
                "source_id": MASTER,
                "duration_ms": 170_000,
                "from_phone": "+16505550199",  # outbound: from the internal number
                "owner_email": "sam@example.com",  # the master's row, not the transfer leg's
                "recording_url": f"https://dialpad.example/recording/{MASTER[:-1]}2.mp3",
            },
        ),
        (
            "5000000000000000003",
            {"status": "missed", "owner_email": None},  # ended unanswered; target is an office
        ),
        (
            "1003",  # events: calling, ringing, recording, hangup in a shuffled log
            {
                "status_raw": "hangup",
                "ended_at": datetime(2024, 4, 15, 16, 54, 50, tzinfo=UTC),
                "recording_url": "https://dialpad.example/recording/1003.mp3",
            },
        ),
    ],
)
def test_calls(call_id: str, expected: dict[str, Any]) -> None:
    record = by_id(dialpad.map_files([source(n) for n in NAMES], CTX))[call_id]
    assert {k: record[k] for k in expected} == expected


def test_participants() -> None:
    record = by_id(dialpad.map_files([source("call_get.json")], CTX))["1002"]
    assert record["participants"] == [
        {
            "name": "Sam Seller",
            "email": "sam@example.com",
            "phone": "+16505550199",
            "is_owner": True,
        },
        {
            "name": "Pat Prospect",
            "email": "pat@prospect.example",
            "phone": "+14155550100",
            "is_owner": None,
        },
    ]


def test_legs_and_events_fold() -> None:
    result = dialpad.map_files([source(n) for n in NAMES], CTX)
    assert (result.read, result.records.num_rows, result.folded) == (10, 4, 4)
    assert sorted((r.reason, r.field, r.source_row) for r in result.rejections) == [
        ("bad_timestamp", "date_started", 5),  # ISO where ms were expected
        ("missing_id", "call_id", 4),
    ]


@settings(max_examples=40, deadline=None)
@given(st.integers(2**53 + 1, 2**63 - 1), st.booleans())
def test_int64_ids_stay_exact(call_id: int, as_number: bool) -> None:
    value: Any = call_id if as_number else str(call_id)
    data = json.dumps([{"call_id": value, "date_started": "1713189600000"}]).encode()
    (record,) = dialpad.map_files([source("c.json", data)], CTX).records.to_pylist()
    assert record["source_id"] == str(call_id)
    assert record["external_id"] == f"dialpad:{call_id}"


def test_a_float_id_is_rejected_not_rounded() -> None:
    data = json.dumps([{"call_id": float(2**62 + 1), "date_started": "1713189600000"}]).encode()
    result = dialpad.map_files([source("c.json", data)], CTX)
    assert result.records.num_rows == 0
    (rejection,) = result.rejections
    assert rejection.reason == "missing_id" and "floating-point" in rejection.message


def test_every_sample_row_is_accounted_for_and_built() -> None:
    out = stage_files([(n, (SAMPLES / n).read_bytes) for n in NAMES], JOB, SETTINGS)
    accounted(out)
    assert (out.read, out.staged, out.folded, out.rejected) == (10, 4, 4, 2)
    assert out.tables["v1_requests"].num_rows == 4
    assert sorted(out.tables["v2_requests"].column("external_id").to_pylist()) == [
        "dialpad:1002",
        "dialpad:1003",
        f"dialpad:{MASTER}",
    ]
