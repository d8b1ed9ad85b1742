"""The Zoom preset on the real recording.completed sample (../shared/fixtures/zoom_2.json) and on
hand-written pages (tests/unit/samples/zoom): processing files, minute durations, reused ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.engagements.settings import BuildSettings
from sources.exports.canonical import MapContext, SourceFile
from sources.exports.outputs import build_outputs
from sources.exports.presets import get_preset, zoom
from sources.exports.readers import read_collections
from sources.exports.source import ExportJob, stage_files
from tests.unit.preset_checks import accounted, by_id

SAMPLES = Path(__file__).parent / "samples" / "zoom"
CTX = MapContext(prefix="zoom", source_system="zoom", default_region="US")
SETTINGS = BuildSettings(source_system="zoom", allow_unassociated=True)
JOB = ExportJob("meetings", "zoom", "file:///exports", "*", "zoom")
MP4_1 = "https://example.zoom.us/rec/download/mp4-1"


@pytest.fixture(scope="module")
def zoom_2() -> bytes:
    path = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "zoom_2.json"
    if not path.is_file():
        pytest.skip("../shared/fixtures/zoom_2.json not present (only CI and developers have it)")
    return path.read_bytes()


def source(name: str, data: bytes | None = None) -> SourceFile:
    return SourceFile(name, read_collections(name, data or (SAMPLES / name).read_bytes()))


def test_registered() -> None:
    assert get_preset("zoom").map_files is zoom.map_files


def test_recording_completed_webhook(zoom_2: bytes) -> None:
    result = zoom.map_files([source("zoom_2.json", zoom_2)], CTX)
    assert (result.read, result.folded, result.rejections) == (1, 0, [])
    (record,) = result.records.to_pylist()
    start = datetime(2021, 7, 13, 21, 44, 51, tzinfo=UTC)
    assert record["external_id"] == "zoom:4444AAAiAAAAAiAiAiiAii=="  # the uuid, not the id
    assert record["kind"] == "meeting" and record["title"] == "My Personal Recording"
    assert record["started_at"] == start
    # The sample's files end (2021-03-23) before the meeting starts: start + 60 minutes instead.
    assert record["ended_at"] == datetime(2021, 7, 13, 22, 44, 51, tzinfo=UTC)
    assert record["duration_ms"] == 60 * 60_000
    assert record["recording_url"].endswith("Qg75t7xZBtEbAkjdlgbfdngCCCC")  # the MP4, not M4A
    assert record["owner_email"] == "jchill@example.com"
    assert record["participants"] == [
        {"name": None, "email": "jchill@example.com", "phone": None, "is_owner": True}
    ]


def test_webhook_sample_builds_both_requests(zoom_2: bytes) -> None:
    out = stage_files([("zoom_2.json", lambda: zoom_2)], JOB, SETTINGS)
    accounted(out)
    (v1,) = out.tables["v1_requests"].to_pylist()
    (v2,) = out.tables["v2_requests"].to_pylist()
    meta = json.loads(v1["body"])["metadata"]
    assert (meta["startTime"], meta["endTime"]) == (1626212691000, 1626216291000)
    body = json.loads(v2["body"])
    assert body["type"] == "MEETING" and body["media_url"].endswith("CCCC")
    everything = json.dumps({n: t.to_pylist() for n, t in out.tables.items()}, default=str)
    assert "abJhbGciOiJIUzUxMiJ9" not in everything  # the download_token is a credential


@pytest.mark.parametrize(
    ("uuid", "url", "ended", "duration_ms"),
    [
        # 0 minutes: a 2-second meeting is 2,000 ms (the measured span beats the rounded
        # minutes); MP4 preferred over the M4A listed first
        ("Qza5PJa+Tb2nCMZlkNFksg==", MP4_1, datetime(2024, 4, 15, 14, 0, 2, tzinfo=UTC), 2_000),
        # only a processing file: no URL, end = start + 45 minutes
        ("/ajXp112QmuoKj4854875==", None, datetime(2024, 4, 22, 14, 45, tzinfo=UTC), 2_700_000),
        # M4A only (CHAT files are not media)
        (
            "mJ7//Y0vQvKq3fYcXc1v+g==",
            "https://example.zoom.us/rec/download/m4a-3",
            datetime(2024, 4, 16, 10, 1, 40, tzinfo=UTC),
            1_900_000,  # 31 min 40 s measured, not the 31 minutes written
        ),
        # a processing file with a URL is skipped for the completed MP4
        (
            "k1Yf0kzsQ9u3wJ9bT2b6aw==",
            "https://example.zoom.us/rec/download/mp4-5",
            datetime(2024, 4, 17, 9, 42, 30, tzinfo=UTC),
            750_000,
        ),
    ],
)
def test_recordings_page(uuid: str, url: str | None, ended: datetime, duration_ms: int) -> None:
    record = by_id(zoom.map_files([source("recordings_page.json")], CTX))[f"zoom:{uuid}"]
    assert (record["recording_url"], record["ended_at"], record["duration_ms"]) == (
        url,
        ended,
        duration_ms,
    )


def test_recurring_meeting_ids_stay_separate_instances() -> None:
    result = zoom.map_files([source("recordings_page.json")], CTX)
    titles = [r["title"] for r in result.records.to_pylist()]
    assert titles.count("Weekly pipeline review") == 2  # same `id`, two uuids
    assert sorted((r.reason, r.source_row) for r in result.rejections) == [
        ("bad_timestamp", 6),  # "2024-04-18 09:30": no Z, never guessed
        ("missing_id", 5),
    ]


def test_processing_meeting_stages_and_only_v2_rejects_it() -> None:
    out = build_outputs(zoom.map_files([source("recordings_page.json")], CTX), SETTINGS, "m")
    accounted(out)
    processing = "zoom:/ajXp112QmuoKj4854875=="
    assert processing in out.tables["v1_requests"].column("external_id").to_pylist()
    v2_rejects = {
        r["external_id"]: r["reason"]
        for r in out.tables["rejected_records"].to_pylist()
        if r["target"] == "v2"
    }
    assert v2_rejects.pop(processing) == "no_media_url"
    # zoom.us download links need an OAuth token: refused for v2 until a relay exists
    assert set(v2_rejects.values()) <= {"media_url_needs_auth"}


def test_webhooks_fold_into_page_rows_and_keep_the_media() -> None:
    result = zoom.map_files([source("recordings_page.json"), source("webhooks.jsonl")], CTX)
    assert (result.read, result.records.num_rows, result.folded) == (9, 4, 2)
    records = by_id(result)
    # recording.completed carries host_email; the page row does not: the webhook row is kept.
    first = records["zoom:Qza5PJa+Tb2nCMZlkNFksg=="]
    assert (first["owner_email"], first["recording_url"]) == ("host.a@example.com", MP4_1)
    # transcript_completed has no media: the page row (with its M4A) wins.
    third = records["zoom:mJ7//Y0vQvKq3fYcXc1v+g=="]
    assert third["recording_url"] == "https://example.zoom.us/rec/download/m4a-3"
    other = [r for r in result.rejections if r.field == "event"]
    assert [(r.reason, r.raw["event"]) for r in other] == [("unreadable_row", "meeting.started")]


FILE = st.fixed_dictionaries(
    {
        "file_type": st.sampled_from(["MP4", "M4A", "CHAT", "TRANSCRIPT", ""]),
        "status": st.sampled_from(["completed", "processing"]),
        "download_url": st.sampled_from(["https://z.example/a", "https://z.example/b", ""]),
        "recording_end": st.sampled_from(["", "2024-04-15T14:10:00Z", "2024-04-15T14:20:00Z"]),
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(FILE, max_size=6))
def test_media_choice(files: list[dict[str, str]]) -> None:
    meeting = {"uuid": "u==", "start_time": "2024-04-15T14:00:00Z", "duration": 30}
    data = json.dumps({"meetings": [meeting | {"recording_files": files}]}).encode()
    (record,) = zoom.map_files([source("p.json", data)], CTX).records.to_pylist()
    usable = [f for f in files if f["status"] == "completed" and f["download_url"]]
    expected = next(
        (f["download_url"] for kind in ("MP4", "M4A") for f in usable if f["file_type"] == kind),
        None,
    )
    assert record["recording_url"] == expected
    ends = [f["recording_end"] for f in files if f["recording_end"]]
    minute = 20 if "2024-04-15T14:20:00Z" in ends else 10 if ends else 30
    assert record["ended_at"] == datetime(2024, 4, 15, 14, minute, tzinfo=UTC)


def test_every_sample_row_is_accounted_for() -> None:
    names = ("recordings_page.json", "webhooks.jsonl")
    out = stage_files([(n, (SAMPLES / n).read_bytes) for n in names], JOB, SETTINGS)
    accounted(out)
    assert (out.read, out.staged, out.folded, out.rejected) == (9, 4, 2, 3)
    assert out.tables["meetings"].num_rows == 4 and out.tables["calls"].num_rows == 0
    needs_auth = [
        r
        for r in out.tables["rejected_records"].to_pylist()
        if r["reason"] == "media_url_needs_auth"
    ]
    assert out.tables["v2_requests"].num_rows + len(needs_auth) == 3
