"""The Gong preset on hand-written pages (tests/unit/samples/gong): flat and extensive calls,
19-digit ids, `started` with workspace offsets, microseconds or epoch seconds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.engagements.settings import BuildSettings
from sources.exports.canonical import MapContext, MappedRows, SourceFile
from sources.exports.presets import get_preset, gong
from sources.exports.readers import read_collections
from sources.exports.source import ExportJob, stage_files
from tests.unit.preset_checks import accounted

SAMPLES = Path(__file__).parent / "samples" / "gong"
NAMES = ("calls.json", "calls_extensive.json", "no_calls_found.json")
CTX = MapContext(prefix="gong", source_system="gong", default_region="US")
SETTINGS = BuildSettings(source_system="gong", allow_unassociated=True)
JOB = ExportJob("calls", "gong", "file:///exports", "*", "gong")
ID = "7782342274025937895"


def source(name: str, data: bytes | None = None) -> SourceFile:
    return SourceFile(name, read_collections(name, data or (SAMPLES / name).read_bytes()))


def by_id(result: MappedRows) -> dict[str, dict[str, Any]]:
    return {r["source_id"]: r for r in result.records.to_pylist()}


def test_registered() -> None:
    assert get_preset("gong").map_files is gong.map_files


@pytest.mark.parametrize(
    ("call_id", "expected"),
    [
        (
            ID,  # flat and extensive rows of one call: the extensive one is kept
            {
                "kind": "call",
                "started_at": datetime(2018, 2, 17, 10, 30, tzinfo=UTC),  # 02:30-08:00
                "duration_ms": 460_000,
                "direction": "outbound",
                "recording_url": f"https://gong-media.example/audio/{ID}.mp3?sig=x",
                "owner_email": "rep@mycompany.example",
                "source_file": "calls_extensive.json",
            },
        ),
        (
            "7782342274025937896",  # a JSON number above 2^53, epoch seconds, Zoom video
            {
                "kind": "meeting",
                "started_at": datetime(2018, 2, 17, 10, 30, tzinfo=UTC),
                "ended_at": datetime(2018, 2, 17, 11, tzinfo=UTC),
                "direction": "unknown",  # Conference
            },
        ),
        (
            "7782342274025937897",  # microseconds and -05:00
            {
                "kind": "call",
                "started_at": datetime(2025, 12, 13, 19, 3, 37, 41_000, tzinfo=UTC),
                "direction": "inbound",
            },
        ),
        (
            "7782342274025937999",  # Google Meet, all parties internal
            {
                "kind": "meeting",
                "direction": "unknown",  # direction "Conference" wins over scope "Internal"
                "started_at": datetime(2024, 4, 15, 7, tzinfo=UTC),
                "recording_url": "https://gong-media.example/video/7782342274025937999.mp4?sig=y",
            },
        ),
    ],
)
def test_calls(call_id: str, expected: dict[str, Any]) -> None:
    record = by_id(gong.map_files([source(n) for n in NAMES], CTX))[call_id]
    assert {k: record[k] for k in expected} == expected
    assert record["external_id"] == f"gong:{call_id}"


def test_parties_become_participants() -> None:
    record = by_id(gong.map_files([source("calls_extensive.json")], CTX))[ID]
    assert record["participants"] == [
        {"name": "Rae Rep", "email": "rep@mycompany.example", "phone": None, "is_owner": True},
        {
            "name": "Bea Buyer",
            "email": "buyer@customer.example",
            "phone": "+14155552671",
            "is_owner": None,
        },
        # not a valid number: kept as written (v2 leaves it out with a warning)
        {"name": "Dial-in", "email": None, "phone": "+1 123-567-8989", "is_owner": None},
    ]
    meeting = by_id(gong.map_files([source("calls_extensive.json")], CTX))["7782342274025937999"]
    owners = [p["email"] for p in meeting["participants"] if p["is_owner"]]
    assert owners == ["rep@mycompany.example"]  # internal, but only the primary user owns it


def test_no_calls_found_is_rejected_and_folds_are_counted() -> None:
    result = gong.map_files([source(n) for n in NAMES], CTX)
    assert (result.read, result.records.num_rows, result.folded) == (6, 4, 1)
    (rejection,) = result.rejections
    assert (rejection.reason, rejection.source_file) == ("unreadable_row", "no_calls_found.json")


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2**53 + 1, 2**63 - 1),
    st.booleans(),
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1)),
    st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
    st.booleans(),
)
def test_ids_and_offsets(
    call_id: int, as_number: bool, moment: datetime, zone: timezone, epoch: bool
) -> None:
    local = moment.replace(tzinfo=zone)
    started: Any = int(local.timestamp()) if epoch else local.isoformat()
    value: Any = call_id if as_number else str(call_id)
    data = json.dumps({"calls": [{"id": value, "started": started, "duration": 7}]}).encode()
    (record,) = gong.map_files([source("c.json", data)], CTX).records.to_pylist()
    assert record["source_id"] == str(call_id)
    expected = local.astimezone(UTC)
    if epoch:
        expected = expected.replace(microsecond=0)
    else:
        expected = expected.replace(microsecond=expected.microsecond // 1000 * 1000)
    assert record["started_at"] == expected


def test_every_sample_row_is_accounted_for_and_built() -> None:
    out = stage_files([(n, (SAMPLES / n).read_bytes) for n in NAMES], JOB, SETTINGS)
    accounted(out)
    assert (out.read, out.staged, out.folded, out.rejected) == (6, 4, 1, 1)
    assert (out.tables["calls"].num_rows, out.tables["meetings"].num_rows) == (2, 2)
    assert out.tables["v1_requests"].num_rows == 4
    assert sorted(out.tables["v2_requests"].column("external_id").to_pylist()) == [
        f"gong:{ID}",
        "gong:7782342274025937999",
    ]
