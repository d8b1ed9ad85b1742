"""The Twilio preset on the real public samples (../shared/fixtures) and on hand-made edge cases."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sources.engagements.settings import BuildSettings
from sources.exports.canonical import MapContext, MappedRows, SourceFile
from sources.exports.outputs import StageOutputs, build_outputs
from sources.exports.presets import twilio
from sources.exports.readers import read_collections
from sources.exports.source import ExportJob, stage_files

CTX = MapContext(prefix="twilio", source_system="twilio", default_region="US")
SETTINGS = BuildSettings(source_system="twilio", allow_unassociated=True)
JOB = ExportJob(
    name="calls",
    preset="twilio",
    bucket_url="file:///exports",
    file_glob="*",
    prefix="twilio",
    default_region="US",
)
PARENT_1, PARENT_2 = "CAdeadbeefdeadbeefdeadbeefdeadbeef", "CAdeadbeefdeadbeefdeadbeefdeadbeee"
ACCOUNT = "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
RECORDING_URL = f"https://api.twilio.com{ACCOUNT}/Recordings/REaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.mp3"


@pytest.fixture(scope="module")
def fixtures() -> Path:
    folder = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
    if not folder.is_dir():
        pytest.skip("../shared/fixtures not present (only CI and developers have it)")
    return folder


def source(path: str, data: bytes) -> SourceFile:
    return SourceFile(path, read_collections(path, data))


def mapped(*files: tuple[str, bytes]) -> MappedRows:
    return twilio.map_files([source(p, d) for p, d in files], CTX)


def records(result: MappedRows) -> list[dict[str, Any]]:
    return sorted(result.records.to_pylist(), key=lambda r: (r["source_file"], r["source_row"]))


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    """Rows as a CSV export would hold them: nested values as JSON text, null as empty."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, names)
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
        )
    return buffer.getvalue().encode()


def call(sid: str | None, parent: str | None = None, **extra: Any) -> dict[str, Any]:
    row = {
        "sid": sid,
        "parent_call_sid": parent,
        "from": "+14155550100",
        "to": "+14155552671",
        "direction": "outbound-api",
        "status": "completed",
        "duration": "38",
        "start_time": "Mon, 15 Apr 2024 14:00:00 +0000",
        "end_time": "Mon, 15 Apr 2024 14:00:38 +0000",
    }
    row.update(extra)
    return row


def page(*calls: dict[str, Any]) -> bytes:
    return json.dumps({"calls": list(calls), "page": 0, "next_page_uri": None}).encode()


def accounted(out: StageOutputs) -> None:
    """DESIGN invariant 2: in = staged + folded + rejected, and every rejection is a row."""
    assert out.read == out.staged + out.folded + out.rejected
    rejected = out.tables["rejected_records"].to_pylist()
    assert sum(1 for r in rejected if r["target"] is None) == out.rejected
    assert all(r["reason"] and r["message"] for r in rejected)


# --- the public samples -------------------------------------------------------------------------


def test_calls_page(fixtures: Path) -> None:
    result = mapped(("twilio_3.json", (fixtures / "twilio_3.json").read_bytes()))
    assert (result.read, result.folded, result.rejections) == (2, 0, [])
    first, second = records(result)
    # Both rows are child legs whose parent is not in the batch: they key on the parent's sid.
    assert first["source_id"] == PARENT_1 and first["external_id"] == f"twilio:{PARENT_1}"
    assert second["source_id"] == PARENT_2 and second["external_id"] == f"twilio:{PARENT_2}"
    expected = [
        (
            datetime(2019, 10, 18, 17, 2, tzinfo=UTC),
            # start + duration: the SDK sample's end_time disagrees with its duration
            datetime(2019, 10, 18, 17, 2, 4, tzinfo=UTC),
            4000,
            "outbound",
            "+13051416799",
            "+13051913581",
            "callerid1",
        ),
        (
            datetime(2019, 10, 18, 16, 2, tzinfo=UTC),
            # start + duration: the SDK sample's end_time disagrees with its duration
            datetime(2019, 10, 18, 16, 2, 3, tzinfo=UTC),
            3000,
            "inbound",
            "+13051416798",
            "+13051913580",
            "callerid2",
        ),
    ]
    for record, (start, end, duration, direction, from_, to, caller) in zip(
        (first, second), expected, strict=True
    ):
        assert (record["started_at"], record["ended_at"]) == (start, end)
        assert record["started_at"].utcoffset().total_seconds() == 0
        assert (record["duration_ms"], record["direction"]) == (duration, direction)
        assert (record["status"], record["status_raw"], record["kind"]) == (
            "completed",
            "completed",
            "call",
        )
        # The SDK's numbers are E.164-shaped but invalid (no NANP exchange starts with 1, as
        # 141 and 191 do): never staged as E.164, kept raw.
        assert (record["from_phone"], record["to_phone"]) == (None, None)
        assert (record["from_phone_raw"], record["to_phone_raw"]) == (from_, to)
        assert record["participants"][0] == {
            "name": caller,
            "email": None,
            "phone": from_,
            "is_owner": None,
        }
        assert record["recording_url"] is None


def test_recordings_page(fixtures: Path) -> None:
    (collection,) = read_collections("twilio_4.json", (fixtures / "twilio_4.json").read_bytes())
    assert collection.name == "recordings"
    # The 'deleted' recording is ignored; the http media_url becomes https and gets .mp3.
    assert twilio.recording_urls(collection.rows).to_pylist() == [
        {"call_sid": "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "recording_url": RECORDING_URL}
    ]


def test_deleted_recording_is_not_joined(fixtures: Path) -> None:
    # twilio_4's deleted recording hangs off CAaaa…aa, the own sid of twilio_3's first call.
    result = mapped(*((n, (fixtures / n).read_bytes()) for n in ("twilio_3.json", "twilio_4.json")))
    assert [r["recording_url"] for r in records(result)] == [None, None]
    assert result.read == 2  # recordings are joined, not counted as input records


def test_recording_joined_on_the_root_leg(fixtures: Path) -> None:
    calls = page(
        call("CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"),
        call("CAchild", parent="CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"),
        call("CAother"),
    )
    result = mapped(("calls.json", calls), ("rec.json", (fixtures / "twilio_4.json").read_bytes()))
    urls = {r["external_id"]: r["recording_url"] for r in records(result)}
    assert urls == {
        "twilio:CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab": RECORDING_URL,
        "twilio:CAother": None,
    }
    assert result.folded == 1


def test_csv_with_the_same_columns_maps_the_same(fixtures: Path) -> None:
    data = (fixtures / "twilio_3.json").read_bytes()
    from_json = records(mapped(("calls.json", data)))
    from_csv = records(mapped(("calls.csv", to_csv(json.loads(data)["calls"]))))
    for record in from_json + from_csv:
        record.pop("source_file")
    assert from_csv == from_json


# Regression: a Recordings CSV (sid, call_sid, start_time) was named 'calls' and staged.
def test_recordings_csv_with_the_same_columns_maps_the_same(fixtures: Path) -> None:
    recordings = json.loads((fixtures / "twilio_4.json").read_bytes())["recordings"]
    calls = page(call("CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"))
    from_json = mapped(
        ("calls.json", calls), ("rec.json", json.dumps({"recordings": recordings}).encode())
    )
    from_csv = mapped(("calls.json", calls), ("rec.csv", to_csv(recordings)))
    staged = [r["external_id"] for r in records(from_csv)]
    assert staged == ["twilio:CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"]
    assert records(from_csv) == records(from_json)
    assert from_csv.read == from_json.read == 1


# --- folding, rejections, accounting ------------------------------------------------------------


@pytest.mark.parametrize(
    "layout",
    [
        [
            [
                call("CAparent", start_time="Mon, 15 Apr 2024 14:00:00 +0000"),
                call("CAchild", parent="CAparent", start_time="Mon, 15 Apr 2024 14:00:05 +0000"),
            ]
        ],
        [
            [
                call("CAchild", parent="CAparent", start_time="Mon, 15 Apr 2024 14:00:05 +0000"),
                call("CAparent", start_time="Mon, 15 Apr 2024 14:00:00 +0000"),
            ]
        ],
        [
            [call("CAchild", parent="CAparent", start_time="Mon, 15 Apr 2024 14:00:05 +0000")],
            [call("CAparent", start_time="Mon, 15 Apr 2024 14:00:00 +0000")],
        ],
    ],
    ids=["parent-first", "child-first", "separate-files"],
)
def test_child_leg_folds_into_its_parent(layout: list[list[dict[str, Any]]]) -> None:
    result = mapped(*((f"calls_{i}.json", page(*rows)) for i, rows in enumerate(layout)))
    assert (result.read, result.folded, result.rejections) == (2, 1, [])
    (record,) = records(result)
    assert record["external_id"] == "twilio:CAparent"
    assert record["started_at"] == datetime(2024, 4, 15, 14, tzinfo=UTC)  # the parent's row
    out = build_outputs(result, SETTINGS, "calls")
    accounted(out)
    for name, table in out.tables.items():
        if "external_id" in table.column_names:
            assert "twilio:CAchild" not in table.column("external_id").to_pylist(), name


def test_rows_without_sid_or_start_are_rejected_with_the_raw_row() -> None:
    result = mapped(
        (
            "calls.json",
            page(
                call("CAok"),
                call(None, note="no sid"),
                call("", note="blank sid"),
                call("CAbad", start_time="yesterday"),
                call("CAnone", start_time=None),
            ),
        )
    )
    assert [r["external_id"] for r in records(result)] == ["twilio:CAok"]
    got = sorted((r.reason, r.field, r.source_row) for r in result.rejections)
    assert got == [
        ("bad_timestamp", "start_time", 4),
        ("bad_timestamp", "start_time", 5),
        ("missing_id", "sid", 2),
        ("missing_id", "sid", 3),
    ]
    raw = {r.source_row: r.raw for r in result.rejections}
    assert raw[2]["note"] == "no sid" and raw[2]["from"] == "+14155550100"
    assert raw[4]["start_time"] == "yesterday" and raw[4]["sid"] == "CAbad"
    assert all(not k.startswith("_") for r in result.rejections for k in r.raw)
    assert all(r.source_file == "calls.json" for r in result.rejections)
    out = build_outputs(result, SETTINGS, "calls")
    accounted(out)
    assert out.rejected == 4
    assert {
        json.loads(r["raw"]).get("sid")
        for r in out.tables["rejected_records"].to_pylist()
        if r["target"] is None
    } == {None, "", "CAbad", "CAnone"}


def test_every_input_row_is_accounted_for(fixtures: Path) -> None:
    calls = page(
        call("CA1"),
        call("CA2", parent="CA1"),
        call("CA3", parent="CA1"),
        call(None),
        call("CA4", start_time="31/12/2024"),
        call("CA5", **{"from": "client:alice"}),
    )
    files = [
        ("twilio_3.json", (fixtures / "twilio_3.json").read_bytes()),
        ("twilio_4.json", (fixtures / "twilio_4.json").read_bytes()),
        ("calls.json", calls),
        ("calls.csv", to_csv([call("CA6"), call("CA1")])),
    ]
    out = build_outputs(mapped(*files), SETTINGS, "calls")
    accounted(out)
    assert (out.read, out.staged, out.folded, out.rejected) == (10, 5, 3, 2)
    assert out.target_rejected == {"v1": 0, "v2": 5}  # no recording for any of them


def test_rubbish_is_accounted_for_and_the_run_completes(fixtures: Path) -> None:
    files = {
        "twilio_3.json": (fixtures / "twilio_3.json").read_bytes(),
        "recording.mp3": bytes(range(256)) * 8,
        "binary.json": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "binary.csv": bytes(range(256)) * 4,
        "truncated.json": (fixtures / "twilio_3.json").read_bytes()[:700],
        "empty.json": b"",
        "empty.jsonl": b"",
        "empty.csv": b"",
        "contacts.csv": b"name,email\nAnn,ann@example.com\nBob,bob@example.com\n",
        "odd.json": b'[{"foo": 1}, "text", 3]',
    }
    out = stage_files([(p, lambda d=d: d) for p, d in files.items()], JOB, SETTINGS)
    accounted(out)
    assert out.staged == 2
    rejected = out.tables["rejected_records"].to_pylist()
    by_file: dict[str, list[str]] = {}
    for r in rejected:
        if r["target"] is None:
            by_file.setdefault(r["source_file"], []).append(r["reason"])
    assert by_file == {
        "recording.mp3": ["unreadable_file"],
        "binary.json": ["unreadable_file"],
        "binary.csv": ["unreadable_file"],
        "truncated.json": ["unreadable_file"],
        "empty.json": ["unreadable_file"],
        "contacts.csv": ["unreadable_row"] * 2,
        "odd.json": ["unreadable_row"] * 3,
    }
    assert {json.loads(r["raw"])["file"] for r in rejected if r["reason"] == "unreadable_file"} == {
        "recording.mp3",
        "binary.json",
        "binary.csv",
        "truncated.json",
        "empty.json",
    }


# Regression: a corrupt .gz export raised BadGzipFile out of stage_files.
def test_corrupt_gzip_does_not_stop_the_run() -> None:
    files = [("calls.json", lambda: page(call("CA1"))), ("calls.jsonl.gz", lambda: b"junk")]
    out = stage_files(files, JOB, SETTINGS)
    accounted(out)
    assert out.staged == 1 and out.rejected == 1


# --- recordings that arrive in a later run ------------------------------------------------------


def recordings_page(*pairs: tuple[str, str]) -> bytes:
    rows = [
        {"sid": f"RE{i}", "call_sid": sid, "status": "completed", "media_url": url}
        for i, (sid, url) in enumerate(pairs)
    ]
    return json.dumps({"recordings": rows}).encode()


def test_recordings_arriving_later_reread_every_file() -> None:
    calls = page(call("CA1"), call("CA2"))
    recordings = recordings_page(("CA1", "https://api.twilio.com/r/RE1"))
    first = stage_files([("calls.json", lambda: calls)], JOB, SETTINGS)
    assert first.tables["v2_requests"].num_rows == 0
    folder = [
        ("calls.json", lambda: calls),
        ("recs.json", lambda: recordings),
        ("junk.json", lambda: b"{"),
    ]
    later = stage_files([("recs.json", lambda: recordings)], JOB, SETTINGS, {}, lambda: folder)
    accounted(later)
    assert (later.read, later.staged, later.rejected) == (3, 2, 1)
    assert later.tables["v2_requests"].column("external_id").to_pylist() == ["twilio:CA1"]
    assert later.tables["recordings"].to_pylist() == [
        {"call_sid": "CA1", "recording_url": "https://api.twilio.com/r/RE1.mp3", "job": "calls"}
    ]


@pytest.mark.parametrize(
    ("this_run", "expected"),
    [
        ([], "https://cdn.example.com/old.mp3"),
        ([("CA1", "https://cdn.example.com/new.mp3")], "https://cdn.example.com/new.mp3"),
    ],
)
def test_known_recordings_join_calls_from_new_files(
    this_run: list[tuple[str, str]], expected: str
) -> None:
    known = {
        "recordings": pa.table(
            {
                "call_sid": ["CA1", "CA9"],
                "recording_url": [
                    "https://cdn.example.com/old.mp3",
                    "https://cdn.example.com/9.mp3",
                ],
                "job": ["calls"] * 2,
            }
        )
    }
    files = [("calls.json", page(call("CA2", parent="CA1"), call("CA3")))]
    if this_run:
        files.append(("recs.json", recordings_page(*this_run)))
    result = twilio.map_files(
        [source(p, d) for p, d in files], MapContext("twilio", "twilio", "US", known)
    )
    urls = {r["external_id"]: r["recording_url"] for r in records(result)}
    assert urls == {"twilio:CA1": expected, "twilio:CA3": None}
    assert ("recordings" in result.lookups) is bool(this_run)


def test_a_recording_without_a_status_column_is_usable() -> None:
    """Regression: `null OR false` is null in Arrow's non-Kleene or_, which dropped recordings
    from files without a status column when stacked with files that have one."""
    from sources.exports.canonical import MapContext, SourceFile
    from sources.exports.presets import twilio
    from sources.exports.readers import read_collections

    plain = b'{"recordings": [{"call_sid": "CA1", "media_url": "https://api.twilio.com/x/RE1"}]}'
    full = (
        b'{"recordings": [{"call_sid": "CA2", "status": "completed", '
        b'"media_url": "https://api.twilio.com/x/RE2"}], "calls": [{"sid": "CA1", '
        b'"from": "+14155550100", "to": "+14155550101", "start_time": "2024-05-01T10:00:00Z"}]}'
    )
    files = [
        SourceFile("a.json", read_collections("a.json", plain)),
        SourceFile("b.json", read_collections("b.json", full)),
    ]
    mapped = twilio.map_files(files, MapContext("twilio", "twilio"))
    assert mapped.records.column("recording_url").to_pylist() == [
        "https://api.twilio.com/x/RE1.mp3"
    ]
