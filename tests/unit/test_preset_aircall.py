"""The Aircall preset on hand-written samples of each shape (tests/unit/samples/aircall): API
pages, webhook logs delivered out of order, and the dashboard CSV with its zone pitfalls."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.engagements.media_access import classify
from sources.engagements.settings import BuildSettings
from sources.exports.canonical import MapContext, SourceFile
from sources.exports.outputs import build_outputs
from sources.exports.presets import aircall, get_preset
from sources.exports.readers import read_collections
from sources.exports.source import ExportJob, stage_files
from tests.unit.preset_checks import accounted, by_id, sample_files

SAMPLES = Path(__file__).parent / "samples" / "aircall"
CTX = MapContext(prefix="aircall", source_system="aircall", default_region="AU")
SETTINGS = BuildSettings(source_system="aircall", allow_unassociated=True)
JOB = ExportJob("calls", "aircall", "file:///exports", "*", "aircall", default_region="AU")


def files(*names: str) -> list[SourceFile]:
    return sample_files(SAMPLES, *names)


def test_registered() -> None:
    assert get_preset("aircall").map_files is aircall.map_files


@pytest.mark.parametrize(
    ("call_id", "expected"),
    [
        (
            "780836699",
            {
                "status": "completed",
                "direction": "inbound",
                "from_phone": "+442079460018",  # raw_digits, spaces removed
                "to_phone": "+442079460000",  # the Aircall line (number.digits)
                "from_phone_raw": "+44 20 7946 0018",
                "started_at": datetime(2024, 4, 15, 14, tzinfo=UTC),
                "ended_at": datetime(2024, 4, 15, 14, 2, 42, tzinfo=UTC),
                "duration_ms": 162_000,
                "owner_email": "ann@example.com",
                "body": "Wants a quote.\nCall back Monday.\n\nSent the quote.",
                "recording_url": "https://aircall-recordings.s3.amazonaws.com/780836699.mp3"
                "?X-Amz-Expires=600&X-Amz-Signature=abc",
            },
        ),
        (
            "780836701",
            {
                "status": "missed",
                "status_raw": "done",
                "from_phone": None,
                "from_phone_raw": "anonymous",
                "duration_ms": 17_000,
                "owner_email": None,
                "recording_url": None,
            },
        ),
        (
            "780836702",
            {
                "status": "no_answer",
                "direction": "outbound",
                "from_phone": "+442079460000",
                "to_phone": "+33123456789",
            },
        ),
        (
            "780836703",
            {
                "status": "voicemail",
                "recording_url": "https://assets.aircall.io/calls/780836703/voicemail",
            },
        ),
    ],
)
def test_api_page(call_id: str, expected: dict[str, Any]) -> None:
    record = by_id(aircall.map_files(files("calls_page.json"), CTX))[f"aircall:{call_id}"]
    assert {k: record[k] for k in expected} == expected
    assert record["kind"] == "call" and record["source_id"] == call_id


def test_participants_are_the_agent_and_the_other_party() -> None:
    record = by_id(aircall.map_files(files("calls_page.json"), CTX))["aircall:780836699"]
    assert record["participants"] == [
        {
            "name": "Ann Agent",
            "email": "ann@example.com",
            "phone": "+442079460000",
            "is_owner": True,
        },
        {"name": "Carl Caller", "email": None, "phone": "+442079460018", "is_owner": None},
    ]


def test_repeated_webhooks_fold_into_the_latest_event() -> None:
    result = aircall.map_files(files("webhooks.jsonl"), CTX)
    assert (result.read, result.records.num_rows, result.folded) == (7, 2, 4)
    (other,) = result.rejections
    assert (other.reason, other.field, other.source_row) == ("unreadable_row", "resource", 6)
    record = by_id(result)["aircall:780836710"]
    assert record["source_row"] == 3  # call.commented: the latest timestamp, delivered 3rd
    assert record["body"] == "Booked a demo."
    assert record["duration_ms"] == 90_000 and record["status"] == "completed"


def test_webhook_token_is_never_staged() -> None:
    out = stage_files([("hooks.jsonl", (SAMPLES / "webhooks.jsonl").read_bytes)], JOB, SETTINGS)
    accounted(out)
    everything = json.dumps({n: t.to_pylist() for n, t in out.tables.items()}, default=str)
    assert "whtoken-secret" not in everything


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_webhook_order_does_not_change_the_record(rnd: random.Random) -> None:
    lines = (SAMPLES / "webhooks.jsonl").read_bytes().splitlines()
    rnd.shuffle(lines)
    data = b"\n".join(lines)
    result = aircall.map_files([SourceFile("h.jsonl", read_collections("h.jsonl", data))], CTX)
    assert (result.read, result.folded, len(result.rejections)) == (7, 4, 1)
    record = by_id(result)["aircall:780836710"]
    assert record["body"] == "Booked a demo."  # the call.commented delivery wherever it sits


@pytest.mark.parametrize(
    ("call_id", "expected"),
    [
        (
            "901",
            {
                # datetime (utc) with ms, not the Melbourne wall time of the "tz offset" column
                "started_at": datetime(2025, 12, 4, 7, 57, 14, 83_000, tzinfo=UTC),
                "duration_ms": 95_000,
                "from_phone": "+61412345678",  # digits without +
                "from_phone_raw": "61412345678",
                "to_phone": "+61383766284",
                "status": "completed",
                "body": "Asked for pricing",
                "recording_url": "https://assets.aircall.io/calls/901/recording",
            },
        ),
        (
            "902",
            {
                "started_at": datetime(2025, 12, 4, 9, tzinfo=UTC),
                "status": "missed",
                "status_raw": "agents_did_not_answer",
                "participants": [
                    {"name": None, "email": None, "phone": "+61412345678", "is_owner": None}
                ],  # "[No associated user]" is nobody
            },
        ),
        (
            "903",
            {
                "duration_ms": 125_000,  # HH:MM:SS in the total column
                "direction": "outbound",
                "from_phone": "+61383766284",  # from "Sales (+61 3 8376 6284)"
                "to_phone": "+61412345678",
            },
        ),
    ],
)
def test_dashboard_csv(call_id: str, expected: dict[str, Any]) -> None:
    record = by_id(aircall.map_files(files("call_history.csv"), CTX))[f"aircall:{call_id}"]
    assert {k: record[k] for k in expected} == expected


def test_dashboard_csv_rejections() -> None:
    result = aircall.map_files(files("call_history.csv"), CTX)
    got = sorted((r.reason, r.field, r.source_row) for r in result.rejections)
    # Row 5 has only the local-time column: never read in a guessed zone.
    assert got == [("bad_timestamp", "datetime (utc)", 5), ("missing_id", "call id (internal)", 6)]


def test_the_same_call_from_api_webhook_and_csv_is_one_record() -> None:
    result = aircall.map_files(files("call_history.csv", "calls_page.json", "webhooks.jsonl"), CTX)
    record = by_id(result)["aircall:780836699"]
    assert record["source_file"] == "calls_page.json"  # the API page is the fullest state
    assert record["owner_email"] == "ann@example.com"
    assert result.folded == 1 + 4 + 1  # CSV copy, webhook repeats, webhook copy


@pytest.mark.parametrize(
    ("raw_id", "staged", "reason"),
    [
        (780836699, "780836699", None),
        ("780836699", "780836699", None),
        (780836699.0, "780836699", None),  # a JSON float that is still exact
        (1.2e20, None, "missing_id"),  # digits may be lost: never guessed
        (None, None, "missing_id"),
    ],
)
def test_ids_stay_exact(raw_id: Any, staged: str | None, reason: str | None) -> None:
    data = json.dumps({"calls": [{"id": raw_id, "started_at": 1713189600, "duration": 5}]})
    result = aircall.map_files(
        [SourceFile("c.json", read_collections("c.json", data.encode()))], CTX
    )
    assert [r["source_id"] for r in result.records.to_pylist()] == ([staged] if staged else [])
    assert [r.reason for r in result.rejections] == ([reason] if reason else [])


def test_every_sample_row_is_accounted_for_and_built() -> None:
    names = ("calls_page.json", "webhooks.jsonl", "call_history.csv")
    out = stage_files([(n, (SAMPLES / n).read_bytes) for n in names], JOB, SETTINGS)
    accounted(out)
    assert (out.read, out.staged, out.folded, out.rejected) == (17, 8, 6, 3)
    staged = set(out.tables["calls"].column("external_id").to_pylist())
    assert set(out.tables["v1_requests"].column("external_id").to_pylist()) == staged
    # assets.aircall.io links need an Aircall login: refused for v2 like missing media
    with_media = {
        r["external_id"]
        for r in out.tables["calls"].to_pylist()
        if r["recording_url"] and classify(r["recording_url"]).kind != "needs_auth"
    }
    assert set(out.tables["v2_requests"].column("external_id").to_pylist()) == with_media
    assert out.target_rejected["v2"] == len(staged - with_media)
    body = json.loads(out.tables["v1_requests"].to_pylist()[0]["body"])
    assert body["engagement"]["type"] == "CALL"
    assert build_outputs(aircall.map_files(files(*names), CTX), SETTINGS, "j").staged == 8
