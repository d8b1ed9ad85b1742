"""The generic preset and its TOML mapping files (sources/exports/mapping.py), on the worked
examples in tests/unit/samples/generic, plus the shared parsing helpers it exposes (zones,
epochs, units, HH:MM:SS, exact ids, JSON paths)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.engagements.settings import BuildSettings
from sources.exports import common, nested
from sources.exports.canonical import MapContext, MappedRows, SourceFile
from sources.exports.mapping import MappingError, load_mapping, parse_mapping
from sources.exports.outputs import build_outputs
from sources.exports.presets import PRESET_NAMES, generic, get_preset
from sources.exports.readers import read_collections
from tests.unit.preset_checks import accounted

SAMPLES = Path(__file__).parent / "samples" / "generic"
SETTINGS = BuildSettings(source_system="acme", allow_unassociated=True)
MINIMAL = {"fields": {"source_id": "id", "kind": {"value": "call"}, "started_at": "t"}}


def strings(*values: str | None) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(list(values), pa.string())])


def run(mapping: Any, name: str, data: bytes | None = None) -> MappedRows:
    context = MapContext("acme", "acme", "US", options={"mapping": mapping})
    files = [SourceFile(name, read_collections(name, data or (SAMPLES / name).read_bytes()))]
    return generic.map_files(files, context)


def example() -> dict[str, Any]:
    return parse_mapping((SAMPLES / "mapping.toml").read_bytes())


def by_id(result: MappedRows) -> dict[str, dict[str, Any]]:
    return {r["source_id"]: r for r in result.records.to_pylist()}


def test_every_preset_is_registered() -> None:
    for name in PRESET_NAMES:
        assert get_preset(name).name == name
    with pytest.raises(ValueError, match="known presets: twilio, aircall"):
        get_preset("nope")


# --- the worked example -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call_id", "expected"),
    [
        (
            "9007199254740993",  # 2^53 + 1: exact; exported twice, the later row wins
            {
                "started_at": datetime(2024, 4, 15, 14, tzinfo=UTC),  # 16:00 Paris (CEST)
                "duration_ms": 127_000,  # 00:02:07
                "ended_at": datetime(2024, 4, 15, 14, 2, 7, tzinfo=UTC),
                "direction": "outbound",
                "status": "completed",
                "status_raw": "Answered",
                "from_phone": "+33123456789",  # national French numbers
                "to_phone": "+33612345678",
                "from_phone_raw": "01 23 45 67 89",
                "title": "Relance devis (re-exported)",
                "body": "Client intéressé, rappeler jeudi",
                "owner_email": "agent@example.fr",
                "recording_url": "https://media.example.fr/rec/9007199254740993.mp3",
            },
        ),
        (
            "9007199254740994",
            {"direction": "inbound", "status": "no_answer", "duration_ms": 0, "owner_email": None},
        ),
        (
            "9007199254740995",  # 02:30 on the night clocks go back: the first 02:30 (CEST)
            {
                "started_at": datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
                "status": "voicemail",
                "recording_url": "https://media.example.fr/vm/9007199254740995.mp3",
            },
        ),
        (
            "9007199254740996",  # 02:30 on the night clocks go forward: the end of the gap
            {
                "started_at": datetime(2024, 3, 31, 1, tzinfo=UTC),
                "direction": "unknown",  # "Transfer" is not in the map
                "from_phone": None,
                "from_phone_raw": "101",
            },
        ),
    ],
)
def test_worked_example(call_id: str, expected: dict[str, Any]) -> None:
    record = by_id(run(example(), "calls.csv"))[call_id]
    assert {k: record[k] for k in expected} == expected
    assert record["external_id"] == f"acme:{call_id}" and record["kind"] == "call"


def test_worked_example_accounting_and_requests() -> None:
    result = run(example(), "calls.csv")
    assert sorted((r.reason, r.field, r.source_row) for r in result.rejections) == [
        ("bad_timestamp", "started_at", 5),  # ISO where dd/mm/yyyy was declared
        ("missing_id", "source_id", 6),
    ]
    out = build_outputs(result, SETTINGS, "acme")
    accounted(out)
    assert (out.read, out.staged, out.folded, out.rejected) == (7, 4, 1, 2)
    assert out.tables["v1_requests"].num_rows == 4
    assert out.tables["v2_requests"].num_rows == 2  # the two with a recording


def test_keep_first() -> None:
    mapping = example()
    mapping["source"]["keep"] = "first"
    record = by_id(run(mapping, "calls.csv"))["9007199254740993"]
    assert (record["title"], record["source_row"]) == ("Relance devis", 1)


def test_webhook_example_with_json_paths() -> None:
    mapping = parse_mapping((SAMPLES / "hooks_mapping.toml").read_text())
    result = run(mapping, "hooks.jsonl")
    records = by_id(result)
    assert records["c-1"]["ended_at"] == datetime(2024, 4, 15, 14, 1, 30, 500_000, tzinfo=UTC)
    assert records["c-1"]["recording_url"] == "https://media.example.com/c-1.mp3"
    assert records["c-1"]["owner_email"] == "o@example.com"
    assert records["c-1"]["direction"] == "unknown"  # a call always has a direction
    assert (records["c-2"]["kind"], records["c-2"]["duration_ms"]) == ("meeting", 3_600_000)
    assert records["c-2"]["direction"] is None
    assert [(r.reason, r.field) for r in result.rejections] == [("unreadable_row", "kind")]
    accounted(build_outputs(result, SETTINGS, "hooks"))


def test_start_derived_from_end_and_duration() -> None:
    mapping = {
        "fields": {
            "source_id": "id",
            "kind": {"value": "meeting"},
            "ended_at": {"from": "end", "format": "epoch_s"},
            "duration_ms": {"from": "minutes", "unit": "min"},
        }
    }
    data = b"id,end,minutes\nm1,1713193200,30\n"
    (record,) = run(mapping, "m.csv", data).records.to_pylist()
    assert record["started_at"] == datetime(2024, 4, 15, 14, 30, tzinfo=UTC)


ROW = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["", "1", "2", "3", "1.5e+20", "9007199254740993"]),
        "t": st.sampled_from(["", "2024-04-15T14:00:00Z", "2024-04-15 16:00", "yesterday"]),
        "kind": st.sampled_from(["call", "meeting", "fax", ""]),
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, max_size=12))
def test_every_row_ends_in_exactly_one_place(rows: list[dict[str, str]]) -> None:
    mapping = {"fields": {"source_id": "id", "kind": "kind", "started_at": "t"}}
    data = "id,t,kind\n" + "".join(f"{r['id']},{r['t']},{r['kind']}\n" for r in rows)
    result = run(mapping, "r.csv", data.encode())
    out = build_outputs(result, SETTINGS, "prop")
    accounted(out)
    assert out.read == len(rows)
    ids = result.records.column("source_id").to_pylist()
    assert len(ids) == len(set(ids))  # one record per source id


# --- mapping file errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fields": {"kind": {"value": "call"}, "started_at": "t"}}, "source_id is required"),
        ({"fields": {"source_id": "id", "started_at": "t"}}, "kind is required"),
        ({"fields": {"source_id": "id", "kind": {"value": "call"}}}, "started_at is required"),
        ({"fields": MINIMAL["fields"] | {"colour": "x"}}, "unknown key 'colour'"),
        ({"fields": MINIMAL["fields"] | {"kind": {"value": "video"}}}, "'video' is not one of"),
        (
            {"fields": MINIMAL["fields"] | {"direction": {"from": "d", "map": {"I": "in"}}}},
            "'in' is not one of inbound",
        ),
        (
            {"fields": MINIMAL["fields"] | {"started_at": {"from": "t", "zone": "Mars/Base"}}},
            "IANA",
        ),
        ({"fields": MINIMAL["fields"] | {"duration_ms": {"from": "d", "unit": "sec"}}}, "unit"),
        (
            {"fields": MINIMAL["fields"] | {"started_at": {"from": "t", "format": "dd/mm"}}},
            "strptime",
        ),
        ({"fields": MINIMAL["fields"] | {"title": {"from": "a", "value": "b"}}}, "either `from`"),
        ({"source": {"phone_region": "XX"}}, "region code"),
        ({"source": {"keep": "newest"}}, "keep"),
        ({"source": {"time_zone": "Nowhere"}}, "IANA"),
    ],
)
def test_mapping_errors_name_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MappingError, match=message):
        load_mapping(MINIMAL | change)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(MappingError) as error:
        load_mapping({"fields": {"colour": "x"}, "extra": 1})
    text = str(error.value)
    for part in ("'colour'", "'extra'", "source_id is required", "kind is required"):
        assert part in text


def test_missing_mapping_and_bad_toml_are_clear() -> None:
    with pytest.raises(MappingError, match="needs a mapping"):
        run(None, "calls.csv")
    with pytest.raises(MappingError, match="not valid TOML"):
        parse_mapping(b"[fields\nsource_id = ")


# --- the shared helpers the mapping exposes -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms"),
    [("1:02:03", 3_723_000), ("02:03", 123_000), ("00:00:00.5", 500), ("10:00", 600_000)],
)
def test_parse_hms(text: str, ms: int) -> None:
    assert common.parse_hms(strings(text)).to_pylist() == [ms]
    assert common.parse_hms(strings("x", "", None, "1:2:3")).to_pylist() == [None] * 4


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))
def test_parse_hms_round_trip(h: int, m: int, s: int, frac: int) -> None:
    text = f"{h:02d}:{m:02d}:{s:02d}.{frac:03d}"
    assert common.parse_hms(strings(text)).to_pylist() == [((h * 60 + m) * 60 + s) * 1000 + frac]


@pytest.mark.parametrize(
    ("text", "unit", "ms"),
    [
        ("38", "s", 38_000),
        ("38.5", "s", 38_500),
        ("120500.0", "ms", 120_500),
        ("2", "min", 120_000),
    ],
)
def test_to_ms(text: str, unit: str, ms: int) -> None:
    assert common.to_ms(strings(text), unit).to_pylist() == [ms]


@given(st.integers(0, 4_102_444_799_999))
def test_epoch_ms_round_trip(ms: int) -> None:
    expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    assert common.parse_epoch(strings(str(ms)), "ms").to_pylist() == [expected]
    assert common.parse_time_as(strings(str(ms)), "epoch_ms").to_pylist() == [expected]


@settings(max_examples=80)
@given(
    # Arrow's zone rules stop at 2037 (32-bit transition tables): later DST is not applied.
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31)),
    st.sampled_from(["Europe/Paris", "America/New_York", "Australia/Melbourne", "Asia/Kolkata"]),
)
def test_naive_local_times_match_zoneinfo(moment: datetime, zone: str) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    local = moment.replace(tzinfo=ZoneInfo(zone))
    if local.astimezone(UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None) != moment:
        return  # a wall time skipped by a DST change: covered by the worked example
    text = moment.isoformat(sep=" ", timespec="milliseconds")
    (parsed,) = common.parse_time_as(strings(text), "iso", zone).to_pylist()
    if local.fold == 0 and ZoneInfo(zone).utcoffset(local.replace(fold=1)) != local.utcoffset():
        assert parsed <= local.replace(fold=1).astimezone(UTC)  # repeated hour: the first one
    else:
        assert parsed == local.astimezone(UTC)


@pytest.mark.parametrize(
    ("raw", "exact", "lossy"),
    [
        ("7782342274025937895", "7782342274025937895", False),
        ("7.782342274025938e+18", None, True),
        ("780836699.0", "780836699", False),
        ("12345678901234567.0", None, True),  # too many digits to have stayed exact
        ("CAdeadbeef", "CAdeadbeef", False),
        ("Qza5PJa+Tb2nCMZlkNFksg==", "Qza5PJa+Tb2nCMZlkNFksg==", False),
        ("  ", None, False),
    ],
)
def test_source_ids(raw: str, exact: str | None, lossy: bool) -> None:
    ids, flagged = common.source_ids(strings(raw))
    assert (ids.to_pylist(), flagged.to_pylist()) == ([exact], [lossy])


def test_extract_paths_and_unwrap() -> None:
    data = {"id": 2**60 + 1, "user": {"email": "a@b.c"}, "files": [{"url": "u0"}, {"url": "u1"}]}
    table = pa.table({"data": [json.dumps(data), None, "not json"], "event": ["e1", "e2", "e3"]})
    got = nested.extract_paths(table, ["data.id", "data.user.email", "data.files.1.url", "event"])
    assert got["data.id"].to_pylist() == [str(2**60 + 1), None, None]
    assert got["data.user.email"].to_pylist() == ["a@b.c", None, None]
    assert got["data.files.1.url"].to_pylist() == ["u1", None, None]
    assert got["event"].to_pylist() == ["e1", "e2", "e3"]
    flat = nested.unwrap_json(table, "data")
    assert flat.column_names == ["event", "id", "user", "files"]
    assert flat.column("id").to_pylist() == [str(2**60 + 1), None, None]
