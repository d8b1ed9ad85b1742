"""Issue 12 point 6: no value aborts a stage; absurd times and durations are per-row rejections,
and the targets agree on which start times are valid."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from sources.engagements.builders import Rejection, build_v1_request, build_v2_request
from sources.engagements.settings import BuildSettings
from sources.engagements.vectorised import build
from sources.exports.source import ExportJob, stage_files
from tests.unit.preset_checks import accounted

SETTINGS = BuildSettings("test", allow_unassociated=True)


def staged(preset: str, name: str, data: bytes) -> dict[str, Any]:
    job = ExportJob("j", preset, "/x", "*", preset)
    out = stage_files([(name, lambda: data)], job, SETTINGS)
    accounted(out)
    return {"out": out, "reasons": out.reasons}


def aircall(call: dict[str, Any]) -> bytes:
    """A finished Aircall call (`done`: a call still in progress has no duration yet)."""
    return json.dumps(
        {"calls": [{"id": 1, "direction": "inbound", "status": "done", **call}]}
    ).encode()


def twilio(duration: str, start: str = "Fri, 18 Oct 2019 17:02:00 +0000") -> bytes:
    row = f'CA1,+14155550100,+14155550101,"{start}",{duration}'
    return f"sid,from,to,start_time,duration\n{row}\n".encode()


@pytest.mark.parametrize(
    ("preset", "name", "data", "reason"),
    [
        ("aircall", "c.json", aircall({"started_at": 1713189600000}), "timestamp_out_of_range"),
        ("aircall", "c.json", aircall({"started_at": -1713189600}), "timestamp_out_of_range"),
        ("aircall", "c.json", aircall({"started_at": 1713189600, "duration": -5}), "bad_duration"),
        (
            "aircall",
            "c.json",
            aircall({"started_at": 1713189600, "duration": 1e300}),
            "bad_duration",
        ),
        ("twilio", "c.csv", twilio("999999999999999999999"), "bad_duration"),
        ("twilio", "c.csv", twilio("-99999999999"), "bad_duration"),
        (
            "twilio",
            "c.csv",
            twilio("12", "Fri, 18 Oct 1969 17:02:00 +0000"),
            "timestamp_out_of_range",
        ),
        (
            "ringcentral",
            "c.json",
            json.dumps(
                {
                    "records": [
                        {"id": "r1", "startTime": "2024-04-15T14:00:00.000Z", "duration": 10**15}
                    ]
                }
            ).encode(),
            "bad_duration",
        ),
        (
            "dialpad",
            "c.json",
            json.dumps({"items": [{"call_id": "1", "date_started": 1713189600000000}]}).encode(),
            "timestamp_out_of_range",
        ),
        (
            "gong",
            "c.json",
            json.dumps({"calls": [{"metaData": {"id": "7", "started": -1518863400}}]}).encode(),
            "timestamp_out_of_range",
        ),
        (
            "salesforce",
            "Task.csv",
            b"Id,Subject,TaskSubtype,CallDurationInSeconds,CreatedDate\n"
            b"00T1,Call,Call,-99999999999,2024-01-01T10:00:00.000Z\n",
            "bad_duration",
        ),
    ],
)
def test_absurd_values_are_row_rejections(preset: str, name: str, data: bytes, reason: str) -> None:
    result = staged(preset, name, data)
    rejected = result["out"].tables["rejected_records"].to_pylist()
    record_level = [r for r in rejected if r["target"] is None]
    # Either rejected with the reason, or (a preset that does not read the field) not staged
    # with the absurd value: never a crash, never an out-of-range request.
    assert f"record:{reason}" in result["reasons"], result["reasons"]
    assert record_level
    for table in ("v1_requests", "v2_requests"):
        for row in result["out"].tables[table].to_pylist():
            body = json.loads(row["body"])
            assert (body.get("metadata", {}).get("durationMilliseconds") or 0) >= 0


def test_negative_duration_never_reaches_v1() -> None:
    record = {
        "external_id": "t:1",
        "source_system": "t",
        "kind": "call",
        "started_at": datetime(2024, 4, 15, tzinfo=UTC),
        "duration_ms": -99_999_000,
    }
    refused = build_v1_request(record, SETTINGS)  # type: ignore[arg-type]
    assert isinstance(refused, Rejection) and refused.reason == "bad_duration"


@pytest.mark.parametrize("year", [1969, 1985, 1999, 2100])
def test_v2_refuses_the_starts_v1_refuses(year: int) -> None:
    record = {
        "external_id": "t:1",
        "source_system": "t",
        "kind": "call",
        "started_at": datetime(year, 6, 1, tzinfo=UTC),
        "recording_url": "https://media.example.com/r/1.mp3",
    }
    v1 = build_v1_request(record, SETTINGS)  # type: ignore[arg-type]
    v2 = build_v2_request(record, SETTINGS)  # type: ignore[arg-type]
    assert isinstance(v1, Rejection) and isinstance(v2, Rejection)
    assert (v1.reason, v2.reason, v2.field) == (
        "timestamp_out_of_range",
        "timestamp_out_of_range",
        "start_at",
    )


def test_sql_path_refuses_the_same_v2_starts() -> None:
    from sources.exports.canonical import assemble

    starts = [datetime(1985, 6, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)]
    records = assemble(
        {
            "external_id": pa.array(["t:old", "t:new"]),
            "source_system": pa.array(["t", "t"]),
            "source_id": pa.array(["old", "new"]),
            "kind": pa.array(["call", "call"]),
            "started_at": pa.array(starts, pa.timestamp("ms", tz="UTC")),
            "recording_url": pa.array(["https://media.example.com/r/1.mp3"] * 2),
            "duration_ms": pa.array([5, -1], pa.int64()),
        },
        2,
    )
    built = build(records, SETTINGS, "j", ("v1", "v2"))
    assert built.plain.to_pylist() == [True, True]
    rejected = {(r["target"], r["external_id"]): r for r in built.rejections.to_pylist()}
    assert rejected[("v2", "t:old")]["reason"] == "timestamp_out_of_range"
    assert rejected[("v1", "t:old")]["reason"] == "timestamp_out_of_range"
    assert built.requests["v2"]["external_id"].to_pylist() == ["t:new"]
    assert rejected[("v1", "t:new")]["reason"] == "bad_duration"
    for external_id, start, duration in (("t:old", starts[0], 5), ("t:new", starts[1], -1)):
        one = {"external_id": external_id, "source_system": "t", "kind": "call",
               "started_at": start, "duration_ms": duration}  # fmt: skip
        python = build_v1_request(one, SETTINGS)  # type: ignore[arg-type]
        assert isinstance(python, Rejection)
        assert python.message == rejected[("v1", external_id)]["message"]
