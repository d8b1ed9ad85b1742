"""The Salesforce preset on hand-written exports (tests/unit/samples/salesforce): Windows-1252
Data Export CSVs with every value quoted and naive UTC times, a Data Loader CSV (upper-case
headers, ISO `Z`), and a SOQL JSON page (`+0000` offsets)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sources.engagements.settings import BuildSettings
from sources.exports.canonical import MapContext, MappedRows, SourceFile
from sources.exports.presets import get_preset, salesforce
from sources.exports.readers import read_collections
from sources.exports.source import ExportJob, stage_files
from tests.unit.preset_checks import accounted, sample_files

SAMPLES = Path(__file__).parent / "samples" / "salesforce"
NAMES = ("Task.csv", "Event.csv", "event_dataloader.csv", "soql_tasks.json")
CTX = MapContext(prefix="sf", source_system="salesforce", default_region="US")
SETTINGS = BuildSettings(source_system="salesforce", allow_unassociated=True)
JOB = ExportJob("activities", "salesforce", "file:///exports", "*", "sf")


def files(*names: str) -> list[SourceFile]:
    return sample_files(SAMPLES, *names)


def by_id(result: MappedRows) -> dict[str, dict[str, Any]]:
    return {r["source_id"]: r for r in result.records.to_pylist()}


def test_registered() -> None:
    assert get_preset("salesforce").map_files is salesforce.map_files


@pytest.mark.parametrize("name", ["Task.csv", "Event.csv"])
def test_samples_are_really_windows_1252(name: str) -> None:
    data = (SAMPLES / name).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert data.startswith(b'"Id","WhoId"')  # every value quoted


def test_task_text_decodes_from_cp1252() -> None:
    record = by_id(salesforce.map_files(files("Task.csv"), CTX))["00T5e00000AbCdEEA1"]
    assert record["title"] == "Call – Renée’s follow-up"
    assert record["body"] == "Discussed pricing in € and the naïve plan.\nNext: send quote."


@pytest.mark.parametrize(
    ("task_id", "expected"),
    [
        (
            "00T5e00000AbCdEEA1",
            {
                "kind": "call",
                # CompletedDateTime (naive UTC), never ActivityDate (midnight)
                "started_at": datetime(2023, 1, 19, 21, 5, tzinfo=UTC),
                "duration_ms": 125_000,
                "ended_at": datetime(2023, 1, 19, 21, 7, 5, tzinfo=UTC),
                "direction": "outbound",
                "disposition": "Left voicemail",
                "status": "voicemail",
                "status_raw": "Completed",
                "owner_email": None,  # OwnerId is a user id, not an e-mail
            },
        ),
        (
            "00T5e00000AbCdEEA2",  # no TaskSubtype, but a CallType: a call; CreatedDate stands in
            {"started_at": datetime(2023, 1, 20, 8, 15, 30, tzinfo=UTC), "direction": "inbound"},
        ),
        (
            "00T5e00000abcdeEA1",  # 15/18-char ids are case-sensitive: not a duplicate of EA1
            {"started_at": datetime(2023, 1, 23, 9, tzinfo=UTC), "duration_ms": 5_000},
        ),
        (
            "00T5e00000AbCdEEB1",  # SOQL JSON: ISO with a +0000 offset, JSON-number duration
            {"started_at": datetime(2019, 7, 1, 13, 16, 20, tzinfo=UTC), "duration_ms": 300_000},
        ),
    ],
)
def test_call_tasks(task_id: str, expected: dict[str, Any]) -> None:
    record = by_id(salesforce.map_files(files(*NAMES), CTX))[task_id]
    assert {k: record[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("source_file", "row", "reason", "field"),
    [
        ("Task.csv", 3, "unreadable_row", "TaskSubtype"),  # list e-mail, duration "0"
        ("Task.csv", 4, "unreadable_row", "TaskSubtype"),  # e-mail task
        ("Task.csv", 5, "bad_timestamp", "CompletedDateTime"),  # only ActivityDate: not a time
        ("Task.csv", 7, "missing_id", "Id"),
        ("Event.csv", 4, "bad_timestamp", "ActivityDateTime"),
        ("soql_tasks.json", 2, "unreadable_row", "TaskSubtype"),  # a to-do task
    ],
)
def test_rejections(source_file: str, row: int, reason: str, field: str) -> None:
    result = salesforce.map_files(files(*NAMES), CTX)
    found = {(r.source_file, r.source_row): (r.reason, r.field) for r in result.rejections}
    assert found[(source_file, row)] == (reason, field)
    assert len(found) == 6


@pytest.mark.parametrize(
    ("event_id", "start", "end"),
    [
        # 16:00 in Quito = 21:00 UTC, written with no marker; ActivityDateTime + 60 minutes
        (
            "00U5e00000QrStUEA1",
            datetime(2023, 1, 19, 21, tzinfo=UTC),
            datetime(2023, 1, 19, 22, tzinfo=UTC),
        ),
        # all-day: the date is what counts
        ("00U5e00000QrStUEA3", datetime(2023, 2, 1, tzinfo=UTC), datetime(2023, 2, 2, tzinfo=UTC)),
        # Data Loader: upper-case headers, StartDateTime/EndDateTime in ISO Z
        (
            "00U5e00000QrStUEA5",
            datetime(2023, 3, 1, 15, tzinfo=UTC),
            datetime(2023, 3, 1, 15, 45, tzinfo=UTC),
        ),
    ],
)
def test_events(event_id: str, start: datetime, end: datetime) -> None:
    record = by_id(salesforce.map_files(files(*NAMES), CTX))[event_id]
    assert (record["kind"], record["started_at"], record["ended_at"]) == ("meeting", start, end)


def test_child_events_fold_into_the_group_event() -> None:
    result = salesforce.map_files(files("Event.csv"), CTX)
    assert "00U5e00000QrStUEA2" not in by_id(result)  # IsChild = 1: an invitee's copy
    assert (result.read, result.records.num_rows, result.folded) == (4, 2, 1)


def test_rows_of_other_objects_are_rejected() -> None:
    data = b'"Id","Name"\n"0015e00000AbCdEAAV","Acme"\n'
    result = salesforce.map_files(
        [SourceFile("Account.csv", read_collections("Account.csv", data))], CTX
    )
    assert [(r.reason, r.field) for r in result.rejections] == [("unreadable_row", "*")]


def test_every_sample_row_is_accounted_for_and_built() -> None:
    out = stage_files([(n, (SAMPLES / n).read_bytes) for n in NAMES], JOB, SETTINGS)
    accounted(out)
    assert (out.read, out.staged, out.folded, out.rejected) == (14, 7, 1, 6)
    assert (out.tables["calls"].num_rows, out.tables["meetings"].num_rows) == (4, 3)
    staged = {r["external_id"] for t in ("calls", "meetings") for r in out.tables[t].to_pylist()}
    assert set(out.tables["v1_requests"].column("external_id").to_pylist()) == staged
    assert out.target_rejected["v2"] == 7  # no recordings in Salesforce exports
    v1 = {r["external_id"]: json.loads(r["body"]) for r in out.tables["v1_requests"].to_pylist()}
    call = v1["sf:00T5e00000AbCdEEA1"]
    assert call["engagement"]["timestamp"] == 1674162300000
    assert call["metadata"]["disposition"] == "b2cf5968-551e-4856-9783-52b3da59a7d0"
