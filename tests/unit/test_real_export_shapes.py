"""Issue 15: values the presets got wrong on real export shapes, one test per point.
Samples: tests/unit/samples/<preset>/ (see their README for where each shape comes from)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.jobs import build_settings, make_job
from sources.engagements.builders import build_v1_request, call_outcome
from sources.engagements.maps import ContactIndex, MapRowError
from sources.engagements.settings import BuildSettings
from sources.errors import ConfigError
from sources.exports import common
from sources.exports.canonical import MapContext, MappedRows
from sources.exports.presets import get_preset
from sources.exports.source import ExportJob, stage_files
from tests.unit.preset_checks import accounted, sample_files

SAMPLES = Path(__file__).parent / "samples"
SETTINGS = BuildSettings(source_system="test", allow_unassociated=True)


def mapped(preset: str, *names: str, staged: pa.Table | None = None) -> MappedRows:
    context = MapContext(prefix=preset, source_system=preset, staged=staged)
    return get_preset(preset).map_files(sample_files(SAMPLES / preset, *names), context)


def records(result: MappedRows) -> dict[str, dict[str, Any]]:
    return {r["source_id"]: r for r in result.records.to_pylist()}


# --- 1. phones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+201234", None, None),  # E.164-shaped, but no Egyptian number: never staged as E.164
        ("+13051416799", None, None),  # NANP exchanges never start with 1
        ("12055550123", None, "+12055550123"),  # RingCentral's 11 digits: +1, no region needed
        ("16505550199", "GB", "+16505550199"),
        ("11234567890", None, None),  # 1 + an impossible area code stays raw
        ("+1 (415) 555-0101", None, "+14155550101"),
    ],
)
def test_phones_are_e164_only_when_valid(raw: str, region: str | None, e164: str | None) -> None:
    assert common.to_e164(raw, region) == e164


def test_contact_map_phones_go_through_the_same_function() -> None:
    index = ContactIndex.from_rows([{"contact_id": "7", "email": "", "phone": "+1 (415) 555-0101"}])
    assert index.lookup(["+14155550101"], []) == [7]
    with pytest.raises(MapRowError, match="line 3: phone"):
        ContactIndex.from_rows(
            [{"contact_id": "1", "phone": "+14155550101"}, {"contact_id": "2", "phone": "n/a"}]
        )


def test_an_unreadable_contact_map_row_is_named_by_its_line(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("contact_id,email,phone\n1,a@x.example,\nabc,b@x.example,\n")
    job = make_job(
        "j", {"preset": "twilio", "path": str(tmp_path), "contact_map": "c.csv"}, tmp_path
    )
    with pytest.raises(ConfigError, match=r"contact_map .*c\.csv line 3: contact_id 'abc'"):
        build_settings(job)


@pytest.mark.parametrize("region", ["XX", "usa", ""])
def test_default_region_is_validated_when_read(region: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="default_region"):
        make_job("j", {"preset": "twilio", "path": str(tmp_path), "default_region": region})
    assert make_job("j", {"preset": "twilio", "path": str(tmp_path), "default_region": "gb"})


def test_ringcentral_nanp_digits_and_invalid_plus_numbers() -> None:
    got = records(mapped("ringcentral", "nanp_without_tsid.json"))
    call = got["s-a1b2c3d4e5f69001"]  # the leg without telephonySessionId folded into it
    assert (call["from_phone"], call["to_phone"]) == ("+16505550199", "+12055550123")
    bad = got["404611549002"]
    assert (bad["from_phone"], bad["from_phone_raw"]) == (None, "+201234")


# --- 2. participants, 3. calls in progress, 7. Dialpad legs ------------------------------------


def test_dialpad_participants_carry_the_calls_own_numbers() -> None:
    call = records(mapped("dialpad", "connected_call.json"))["6100000000000000001"]
    phones = {p["name"]: p["phone"] for p in call["participants"]}
    # The auto-created "Denver, CO" contact carries another number: the remote number wins.
    assert phones == {"Sam Seller": "+16505550199", "Denver, CO": "+12125550123"}


def test_a_call_in_progress_is_not_completed_and_a_later_export_updates_it() -> None:
    job = ExportJob("calls", "dialpad", "file:///x", "*", "dialpad")
    folder = SAMPLES / "dialpad"
    first = stage_files([("a.json", (folder / "connected_call.json").read_bytes)], job, SETTINGS)
    accounted(first)
    (record,) = first.tables["calls"].to_pylist()  # the transfer leg folds (entry_point_call_id)
    assert (first.folded, record["status"], record["ended_at"]) == (1, "in_progress", None)
    (v1,) = first.tables["v1_requests"].to_pylist()
    assert json.loads(v1["body"])["metadata"]["status"] == "IN_PROGRESS"
    reasons = {r["target"]: r["reason"] for r in first.tables["rejected_records"].to_pylist()}
    assert reasons == {"v2": "no_media_url"}
    later = [
        (n, (folder / n).read_bytes) for n in ("connected_call.json", "connected_call_ended.json")
    ]
    (done,) = stage_files(later, job, SETTINGS).tables["calls"].to_pylist()
    assert (done["external_id"], done["status"]) == (record["external_id"], "completed")
    assert done["ended_at"] - done["started_at"] == timedelta(milliseconds=done["duration_ms"])


@pytest.mark.parametrize(
    ("preset", "name", "source_id"),
    [
        ("aircall", "envelopes.jsonl", "780836801"),  # answered, not ended
        ("ringcentral", "nanp_without_tsid.json", "404611549002"),  # result "In Progress"
    ],
)
def test_other_presets_stage_unfinished_calls_in_progress(
    preset: str, name: str, source_id: str
) -> None:
    record = records(mapped(preset, name))[source_id]
    assert record["status"] == "in_progress"
    assert record["ended_at"] is None or record["duration_ms"] == 0


# --- 4. Gong direction and disposition ----------------------------------------------------------


@pytest.mark.parametrize(
    ("call_id", "direction", "disposition"),
    [
        ("8882342274025930001", "inbound", "Demo booked"),
        ("8882342274025930002", "outbound", "Not interested"),  # callOutcome.name
        ("8882342274025930003", "unknown", None),  # Conference
        ("8882342274025930004", "unknown", None),  # Unknown wins over scope Internal
        ("8882342274025930005", "internal", "Left voicemail"),  # no direction: scope decides
    ],
)
def test_gong_direction_wins_over_scope(call_id: str, direction: str, disposition: str) -> None:
    record = records(mapped("gong", "directions.json"))[call_id]
    assert (record["direction"], record["disposition"]) == (direction, disposition)


# --- 5. Zoom durations --------------------------------------------------------------------------


def test_a_76_second_zoom_meeting_is_76_seconds() -> None:
    (record,) = mapped("zoom", "short_meeting.json").records.to_pylist()
    assert record["duration_ms"] == 76_000  # `duration` says 0 minutes
    assert record["ended_at"] == datetime(2024, 5, 3, 16, 1, 16, tzinfo=UTC)


# --- 6. Aircall envelopes, Salesforce Tasks without TaskSubtype --------------------------------


def test_aircall_envelopes_read_like_bare_events() -> None:
    result = mapped("aircall", "envelopes.jsonl")
    assert (result.read, result.records.num_rows, result.folded, result.rejections) == (4, 2, 2, [])
    ended = records(result)["780836802"]
    assert (ended["status"], ended["duration_ms"]) == ("completed", 90_000)
    assert "whtoken-secret" not in json.dumps(result.records.to_pylist(), default=str)


def test_salesforce_tasks_without_tasksubtype_are_read_by_their_call_data() -> None:
    result = mapped("salesforce", "Task_without_subtype.csv")
    assert sorted(records(result)) == ["00T5e00000XyZaAAA1", "00T5e00000XyZaAAA2"]
    assert records(result)["00T5e00000XyZaAAA2"]["disposition"] == "No answer"
    (email,) = result.rejections
    assert (email.reason, email.source_row) == ("unreadable_row", 3)


def test_a_task_file_with_no_call_column_is_rejected_once() -> None:
    job = ExportJob("sf", "salesforce", "file:///x", "*", "sf")
    path = SAMPLES / "salesforce" / "Task_no_call_columns.csv"
    out = stage_files([("Task.csv", path.read_bytes)], job, SETTINGS)
    accounted(out)
    (rejection,) = out.tables["rejected_records"].to_pylist()
    assert (rejection["field"], rejection["source_row"]) == ("TaskSubtype", 0)
    assert "CallDurationInSeconds" in rejection["message"] and "2 Task rows" in rejection["message"]


# --- 7. a keying change never re-keys what is staged -------------------------------------------


def test_dialpad_legs_staged_under_the_old_rule_keep_their_external_id() -> None:
    # Before entry_point_call_id counted, the transfer leg was its own record.
    staged = pa.table(
        {"external_id": ["dialpad:6100000000000000002"], "source_key": pa.nulls(1, pa.string())}
    )
    result = mapped("dialpad", "connected_call.json", staged=staged)
    (record,) = result.records.to_pylist()
    assert record["external_id"] == "dialpad:6100000000000000001"  # new rule, the master's key
    only_leg = pa.table(
        {"external_id": ["dialpad:6100000000000000001"], "source_key": pa.nulls(1, pa.string())}
    )
    kept = mapped("dialpad", "connected_call.json", staged=only_leg).records.to_pylist()
    assert [r["external_id"] for r in kept] == ["dialpad:6100000000000000001"]


def test_ringcentral_records_staged_without_telephony_session_keep_their_id() -> None:
    staged = pa.table({"external_id": ["ringcentral:404611549001"], "source_key": [None]})
    result = mapped("ringcentral", "nanp_without_tsid.json", staged=staged)
    ids = {r["source_id"]: r["external_id"] for r in result.records.to_pylist()}
    assert ids["404611549001"] == "ringcentral:404611549001"
    assert result.lookups["source_keys"].to_pylist() == [
        {"source_key": "s-a1b2c3d4e5f69001", "external_id": "ringcentral:404611549001"}
    ]


# --- 9. one disposition normalisation -----------------------------------------------------------


@pytest.mark.parametrize("value", ["Demo booked", "demo-booked", "DEMO_BOOKED", " Demo  booked "])
def test_a_disposition_map_row_matches_the_record_value(value: str, tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text(
        "disposition,guid\nDemo booked,a4c4c377-d246-4b32-a13b-75a56a4cd0ff\n"
    )
    job = make_job(
        "j", {"preset": "gong", "path": str(tmp_path), "disposition_map": "d.csv"}, tmp_path
    )
    warnings: list[str] = []
    assert (
        call_outcome(value, build_settings(job), warnings) == "a4c4c377-d246-4b32-a13b-75a56a4cd0ff"
    )
    assert warnings == []


# --- 11. wall-clock times that do not exist or repeat ------------------------------------------


def test_dst_gap_and_overlap_follow_one_policy_with_a_warning() -> None:
    mapping = {
        "source": {"time_zone": "Europe/Paris"},
        "fields": {
            "source_id": "id",
            "kind": {"value": "call"},
            "started_at": {"from": "at", "format": "iso"},
        },
    }
    csv = b"id,at\ngap,2024-03-31 02:30:00\nrepeat,2024-10-27 02:30:00\nplain,2024-06-01 12:00:00\n"
    job = ExportJob("g", "generic", "file:///x", "*", "g", options={"mapping": mapping})
    out = stage_files([("c.csv", lambda: csv)], job, SETTINGS)
    calls = {r["source_id"]: r["started_at"] for r in out.tables["calls"].to_pylist()}
    assert calls["gap"] == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)  # 03:00 CEST: end of the gap
    assert calls["repeat"] == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # the earlier 02:30
    warnings = {r["external_id"]: r["warnings"] for r in out.tables["v1_requests"].to_pylist()}
    assert warnings == {
        "g:gap": common.DST_GAP,
        "g:repeat": common.DST_OVERLAP,
        "g:plain": None,
    }
    assert build_v1_request  # (v1 builders add their own warnings beside these)
