"""The RingCentral preset on hand-written call logs (tests/unit/samples/ringcentral): one call
logged per leg/extension, ms timestamps, extension-only numbers, faxes."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.engagements.settings import BuildSettings
from sources.exports.canonical import MapContext, MappedRows, SourceFile
from sources.exports.presets import get_preset, ringcentral
from sources.exports.readers import read_collections
from sources.exports.source import ExportJob, stage_files
from tests.unit.preset_checks import accounted, sample_files

SAMPLES = Path(__file__).parent / "samples" / "ringcentral"
NAMES = ("company_call_log.json", "user_record.json")
CTX = MapContext(prefix="rc", source_system="ringcentral", default_region="US")
SETTINGS = BuildSettings(source_system="ringcentral", allow_unassociated=True)
JOB = ExportJob("calls", "ringcentral", "file:///exports", "*", "rc")
RECORDING = "https://media.ringcentral.com/restapi/v1.0/account/~/recording/201/content"


def files(*names: str) -> list[SourceFile]:
    return sample_files(SAMPLES, *names)


def by_id(result: MappedRows) -> dict[str, dict[str, Any]]:
    return {r["source_id"]: r for r in result.records.to_pylist()}


def test_registered() -> None:
    assert get_preset("ringcentral").map_files is ringcentral.map_files


@pytest.mark.parametrize(
    ("session", "expected"),
    [
        (
            "s-a1b2c3d4e5f60001",
            {
                "started_at": datetime(2023, 4, 10, 23, 58, 47, 594_000, tzinfo=UTC),
                "duration_ms": 65_123,  # durationMs wins over the rounded seconds
                "ended_at": datetime(2023, 4, 10, 23, 59, 52, 717_000, tzinfo=UTC),
                "direction": "inbound",
                "status": "completed",
                "status_raw": "Accepted",
                "from_phone": "+14155550100",
                "to_phone": "+16505550199",
                "recording_url": RECORDING,
            },
        ),
        (
            "s-a1b2c3d4e5f60002",
            {"direction": "outbound", "status": "no_answer", "duration_ms": 0},
        ),
        (
            "s-a1b2c3d4e5f60003",  # extension to extension
            {
                "direction": "internal",
                "from_phone": None,
                "from_phone_raw": "101",
                "to_phone_raw": "102",
                "duration_ms": 30_000,
            },
        ),
    ],
)
def test_call_log(session: str, expected: dict[str, Any]) -> None:
    record = by_id(ringcentral.map_files(files(*NAMES), CTX))[session]
    assert {k: record[k] for k in expected} == expected
    assert record["external_id"] == f"rc:{session}"


def test_legs_of_one_session_fold_and_keep_the_recording() -> None:
    result = ringcentral.map_files(files(*NAMES), CTX)
    assert (result.read, result.records.num_rows, result.folded) == (7, 3, 2)
    assert sorted((r.reason, r.field, r.source_row) for r in result.rejections) == [
        ("bad_timestamp", "startTime", 6),
        ("unreadable_row", "type", 5),  # a fax
    ]


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_leg_order_does_not_matter(rnd: random.Random) -> None:
    doc = json.loads((SAMPLES / "company_call_log.json").read_bytes())
    legs = [r for r in doc["records"] if r.get("telephonySessionId") == "s-a1b2c3d4e5f60001"]
    legs[0] = {**legs[0], "recording": None}  # the recording only on the shorter leg
    legs[1] = {**legs[1], "recording": {"contentUri": RECORDING}}
    rnd.shuffle(legs)
    data = json.dumps({"records": legs}).encode()
    result = ringcentral.map_files([SourceFile("p.json", read_collections("p.json", data))], CTX)
    (record,) = result.records.to_pylist()
    assert result.folded == 1
    assert record["started_at"] == datetime(2023, 4, 10, 23, 58, 47, 594_000, tzinfo=UTC)
    assert (record["duration_ms"], record["recording_url"]) == (65_123, RECORDING)


def test_every_sample_row_is_accounted_for_and_built() -> None:
    out = stage_files([(n, (SAMPLES / n).read_bytes) for n in NAMES], JOB, SETTINGS)
    accounted(out)
    assert (out.read, out.staged, out.folded, out.rejected) == (7, 3, 2, 2)
    assert out.tables["v1_requests"].num_rows == 3
    # contentUri needs a RingCentral token: without a relay v2 refuses it before sending.
    assert out.tables["v2_requests"].num_rows == 0
    v2 = {
        r["external_id"]: r["reason"]
        for r in out.tables["rejected_records"].to_pylist()
        if r["target"] == "v2"
    }
    assert v2["rc:s-a1b2c3d4e5f60001"] == "media_url_needs_auth"
