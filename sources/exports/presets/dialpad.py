"""Dialpad calls: call objects (`GET /call/{id}`), lists of them (`{"items": [...]}` pages, JSON
arrays, JSONL) and call-event webhook payloads (one per state change).

Facts (export_formats.md §6): int64 values (ids, times) are JSON strings; `date_*` are ms since
the epoch; `duration` is in ms (a double; `total_duration` includes ringing); legs of one call
share `master_call_id` (or, when Dialpad gives no master, `entry_point_call_id`), so the source
id is `master_call_id`, else `entry_point_call_id`, else `call_id`: legs and repeated events fold
into the master's row (else the latest event), the recording taken from any of them. Ids staged
before `entry_point_call_id` counted (`master_call_id`, else `call_id`) are kept (canonical.py,
`resolve_keys`). The call starts when it connected (else when it started): `duration` is the
connected time, so the end is start + duration. A call with no end in a live state (calling,
ringing, connected, hold, recording) is `in_progress` until a later event or export ends it.
The participants carry the call's own numbers: our line (`internal_number`) for the target and
the remote `external_number` for the contact, never the phone of the contact record Dialpad
attached (its auto-created "City, ST" contacts carry another number).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sources.exports import common, nested
from sources.exports.canonical import (
    FILE_COL,
    LEGACY_COL,
    ROW_COL,
    MapContext,
    MappedRows,
    RowRejection,
    SourceFile,
    map_prepared,
    name_by,
    participant_lists,
    prepared,
    reject_other_collections,
    require_id_and_start,
    with_provenance,
)
from sources.exports.readers import Collection, records_to_table

KNOWN = ("calls",)
DIRECTION = {"inbound": "inbound", "outbound": "outbound", "internal": "internal"}
STATE = {"voicemail": "voicemail", "missed": "missed", "rejected": "canceled"}
LIVE_STATES = ("calling", "ringing", "connected", "hold", "recording", "preanswer", "queued")
RECORDING_TYPES = ("callrecording", "admincallrecording", "voicemail")  # in order of preference
PATHS = ["target.name", "target.email", "target.type", "contact.name", "contact.email"]
PREFER = (
    ("_is_master", "descending"),
    ("_event_ts", "descending"),
    (FILE_COL, "descending"),
    (ROW_COL, "descending"),
)


def name_collections(files: list[SourceFile]) -> None:
    """Rows with call_id are calls; an `{"items": [...]}` page is split into its calls."""
    name_by(files, _named)


def _named(path: str, coll: Collection) -> Collection | None:
    cols = coll.rows.column_names
    if "call_id" in cols:
        return Collection("calls", coll.rows)
    if "items" in cols and coll.rows.num_rows == 1:
        (items,) = nested.json_docs(coll.rows.column("items"))
        if isinstance(items, list):
            return Collection("calls", records_to_table(items))
    return None


def map_files(files: list[SourceFile], context: MapContext) -> MappedRows:
    """One call record per master call id, from every leg and event."""
    name_collections(files)
    rejections = reject_other_collections(files, KNOWN, "not a Dialpad call (no call_id)")
    rows = with_provenance(files, KNOWN)
    return map_prepared(
        files, context, rejections, [(rows, _prepare)], PREFER, fill=("recording_url",)
    )


def _prepare(rows: pa.Table, context: MapContext) -> tuple[pa.Table, list[RowRejection]]:
    def epoch(name: str) -> pa.ChunkedArray:
        return common.parse_epoch(common.column(rows, name), "ms")

    master, call = common.column(rows, "master_call_id"), common.column(rows, "call_id")
    ids = pc.coalesce(master, common.column(rows, "entry_point_call_id"), call)
    start = pc.coalesce(epoch("date_connected"), epoch("date_started"), epoch("date_rang"))
    rows = rows.append_column(LEGACY_COL, common.source_ids(pc.coalesce(master, call))[0])
    rows, rejections = require_id_and_start(
        rows, ids, start, ("call_id", "date_started"), "a time in ms since the epoch"
    )
    start, end, duration = common.derive_span(
        rows["_start"], epoch("date_ended"), common.to_ms(common.column(rows, "duration"), "ms")
    )
    direction = common.map_values(common.column(rows, "direction"), DIRECTION, "unknown")
    ours, theirs = common.column(rows, "internal_number"), common.column(rows, "external_number")
    from_raw, to_raw = common.by_direction(direction, ours, theirs)
    columns: dict[str, Any] = {
        "kind": common.constant("call", rows.num_rows),
        "started_at": start,
        "ended_at": end,
        "duration_ms": duration,
        "direction": direction,
        "status": _status(rows, direction, epoch("date_connected"), epoch("date_ended")),
        "status_raw": common.column(rows, "state"),
        "from_phone": common.normalise_phones(from_raw, context.default_region),
        "to_phone": common.normalise_phones(to_raw, context.default_region),
        "from_phone_raw": from_raw,
        "to_phone_raw": to_raw,
        "recording_url": _recording(rows),
        "transcript_text": common.column(rows, "transcription_text"),
        **_people(
            rows, *(common.normalise_phones(n, context.default_region) for n in (ours, theirs))
        ),
    }
    rows = rows.append_column(
        "_is_master", pc.fill_null(pc.equal(common.column(rows, "call_id"), rows["_id"]), False)
    ).append_column("_event_ts", epoch("event_timestamp"))
    return prepared(rows, columns, ("_is_master", "_event_ts", LEGACY_COL)), rejections


def _people(rows: pa.Table, ours: pa.ChunkedArray, theirs: pa.ChunkedArray) -> dict[str, Any]:
    """The target (the owner when it is a user, not an office or department) on our line, and
    the contact on the remote number."""
    got = nested.extract_paths(rows, PATHS)
    is_user = pc.equal(got["target.type"], "user")
    target = {"name": got["target.name"], "email": got["target.email"], "phone": ours}
    contact = {"name": got["contact.name"], "email": got["contact.email"], "phone": theirs}
    return {
        "owner_email": pc.if_else(is_user, got["target.email"], None),
        "participants": participant_lists(
            [target | {"is_owner": pc.if_else(is_user, True, None)}, contact], rows.num_rows
        ),
    }


def _status(
    rows: pa.Table, direction: pa.ChunkedArray, connected: pa.ChunkedArray, ended: pa.ChunkedArray
) -> pa.ChunkedArray:
    """A final state word, else connected -> completed, else ended unanswered -> missed
    (inbound) or no_answer (outbound)."""
    state = common.column(rows, "state")
    by_state = common.map_values(state, STATE, None)
    live = pc.and_(pc.is_null(ended), pc.is_in(pc.utf8_lower(state), pa.array(LIVE_STATES)))
    unanswered = pc.and_(pc.is_valid(ended), pc.is_null(connected))
    return common.first_match(
        [
            (pc.is_valid(by_state), by_state),
            (live, "in_progress"),
            (pc.is_valid(connected), "completed"),
            (pc.and_(unanswered, pc.equal(direction, "inbound")), "missed"),
            (pc.and_(unanswered, pc.equal(direction, "outbound")), "no_answer"),
        ],
        "unknown",
        rows.num_rows,
    )


def _recording(rows: pa.Table) -> pa.ChunkedArray:
    """`recording_url` (a list or one URL), else the best `recording_details[].url`. Per-row
    Python over each call's short lists."""
    plain = common.column(rows, "recording_url")
    listed = nested.json_docs(plain)
    details = nested.json_docs(common.column(rows, "recording_details"))
    urls: list[str | None] = []
    for text, items, found in zip(plain.to_pylist(), listed, details, strict=True):
        if isinstance(items, list):
            text = next((str(u) for u in items if u), None)
        by_type: dict[str, str] = {}
        for d in found if isinstance(found, list) else []:
            if isinstance(d, dict) and d.get("url"):
                by_type.setdefault(str(d.get("recording_type")), str(d["url"]))
        best = next((by_type[t] for t in RECORDING_TYPES if t in by_type), None)
        urls.append(text or best)
    return pa.chunked_array([pa.array(urls, pa.string())])


__all__ = ["map_files", "name_collections"]
