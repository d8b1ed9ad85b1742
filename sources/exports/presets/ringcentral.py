"""RingCentral call log: `{"records": [...]}` pages (Simple or Detailed view), single records
and JSONL of records.

Facts (export_formats.md §5): `startTime` is ISO 8601 UTC with ms; `duration` is in seconds and
`durationMs` in ms; `from`/`to` are `{phoneNumber, extensionNumber, name}` (no phoneNumber on
extension calls); one call gives a record per extension/leg (company vs user log), so the source
id is `sessionId` (else `telephonySessionId`, else `id`) and the legs fold, the recording taken
from whichever leg has it. Older exports lack `telephonySessionId`: a record without it takes
the one another record of its `sessionId` carries in the same files, else is keyed on
`sessionId` (else `id`); a call staged that way keeps its external_id when a later export of it
carries `telephonySessionId` (canonical.resolve_keys). Numbers written as 11
digits with the leading 1 and no plus read as +1 (phones.to_e164). `recording.contentUri`
needs a Bearer token to download.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sources.engagements.rules import V2_EXTERNAL_ID_LIMIT
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
    reject,
    reject_other_collections,
    require_id_and_start,
    with_provenance,
)
from sources.exports.readers import Collection

KNOWN = ("records",)
DIRECTION = {"inbound": "inbound", "outbound": "outbound"}
_COMPLETED = ("accepted", "call connected", "received", "answered not accepted")
_CANCELED = ("rejected", "declined", "hang up", "stopped", "abandoned")
_FAILED = (
    "call failed",
    "call failure",
    "internal error",
    "ip phone offline",
    "blocked",
    "wrong number",
    "restricted number",
    "no calling credit",
    "suspended account",
)
STATUS = {
    **dict.fromkeys(_COMPLETED, "completed"),
    **dict.fromkeys(_CANCELED, "canceled"),
    **dict.fromkeys(_FAILED, "failed"),
    "missed": "missed",
    "voicemail": "voicemail",
    "busy": "busy",
    "no answer": "no_answer",
    "in progress": "in_progress",  # an active call: a later export gives its result
    "ringing": "in_progress",
}
PATHS = (
    "from.phoneNumber",
    "from.extensionNumber",
    "from.name",
    "to.phoneNumber",
    "to.extensionNumber",
    "to.name",
    "recording.contentUri",
)
# The leg that spans the whole call (longest, earliest), then the most recently modified; the
# recording comes from whichever leg has it.
PREFER = (
    ("duration_ms", "descending"),
    ("started_at", "ascending"),
    ("_modified", "descending"),
    (FILE_COL, "descending"),
    (ROW_COL, "descending"),
)


def name_collections(files: list[SourceFile]) -> None:
    """A single record or JSONL of records (rows with startTime) are call-log records."""
    name_by(
        files,
        lambda path, coll: (
            Collection("records", coll.rows) if "startTime" in coll.rows.column_names else None
        ),
    )


def map_files(files: list[SourceFile], context: MapContext) -> MappedRows:
    """One call record per telephony session, from every leg's record."""
    name_collections(files)
    rejections = reject_other_collections(files, KNOWN, "not a RingCentral call-log record")
    rows = with_provenance(files, KNOWN)
    if rows is not None:
        rows, faxes = reject(
            rows,
            pc.equal(pc.utf8_lower(common.column(rows, "type")), "fax"),
            "unreadable_row",
            "type",
            "a fax, not a voice call",
        )
        rejections += faxes
    return map_prepared(
        files, context, rejections, [(rows, _prepare)], PREFER, fill=("recording_url",)
    )


def _prepare(rows: pa.Table, context: MapContext) -> tuple[pa.Table, list[RowRejection]]:
    session, other = common.column(rows, "sessionId"), common.column(rows, "id")
    ids = pc.coalesce(
        common.column(rows, "telephonySessionId"), _session_tsid(rows), session, other
    )
    rows = rows.append_column(LEGACY_COL, common.source_ids(pc.coalesce(session, other))[0])
    start = common.parse_iso_times(common.column(rows, "startTime"))
    rows, rejections = require_id_and_start(
        rows, ids, start, ("telephonySessionId", "startTime"), "an ISO 8601 time"
    )
    got = nested.extract_paths(rows, PATHS)
    duration = pc.coalesce(
        common.to_ms(common.column(rows, "durationMs"), "ms"),
        common.to_ms(common.column(rows, "duration"), "s"),
    )
    start, end, duration = common.derive_span(
        rows["_start"], pa.nulls(rows.num_rows, common.TIMESTAMP), duration
    )
    status_raw = common.column(rows, "result")
    columns: dict[str, Any] = {
        "kind": common.constant("call", rows.num_rows),
        "started_at": start,
        "ended_at": end,
        "duration_ms": duration,
        "status": common.map_values(status_raw, STATUS, "unknown"),
        "status_raw": status_raw,
        "recording_url": got["recording.contentUri"],
        **_numbers(rows, got, context.default_region),
    }
    columns["participants"] = participant_lists(
        [
            {"name": got["from.name"], "phone": columns["from_phone"]},
            {"name": got["to.name"], "phone": columns["to_phone"]},
        ],
        rows.num_rows,
    )
    modified = common.parse_iso_times(common.column(rows, "lastModifiedTime"))
    rows = rows.append_column("_modified", modified)
    return prepared(rows, columns, ("_modified", LEGACY_COL)), rejections


def _session_tsid(rows: pa.Table) -> pa.ChunkedArray:
    """Per row, the telephonySessionId that a record of the same sessionId carries (the least
    when they differ), so a leg exported without it folds with the legs that have it. Only an id
    an engagement can carry (V2_EXTERNAL_ID_LIMIT characters) is lent: a longer one, copied into
    every leg of its session, would cost N copies of one cell for N legs."""
    pairs = pa.table(
        {"s": common.column(rows, "sessionId"), "t": common.column(rows, "telephonySessionId")}
    )
    short = pc.less_equal(pc.utf8_length(pairs["t"]), V2_EXTERNAL_ID_LIMIT)
    known = pairs.filter(pc.and_(pc.is_valid(pairs["s"]), pc.fill_null(short, False)))
    least = known.group_by("s").aggregate([("t", "min")])
    at = pc.index_in(pairs["s"], value_set=least["s"].combine_chunks())
    return pc.take(least["t_min"], at)


def _numbers(
    rows: pa.Table, got: dict[str, pa.ChunkedArray], region: str | None
) -> dict[str, pa.ChunkedArray]:
    """Phone number, else extension number, of each side; extension to extension is internal."""
    from_raw = pc.coalesce(got["from.phoneNumber"], got["from.extensionNumber"])
    to_raw = pc.coalesce(got["to.phoneNumber"], got["to.extensionNumber"])
    no_numbers = pc.and_(pc.is_null(got["from.phoneNumber"]), pc.is_null(got["to.phoneNumber"]))
    direction = common.first_match(
        [(pc.and_(no_numbers, pc.is_valid(from_raw)), "internal")],
        common.map_values(common.column(rows, "direction"), DIRECTION, "unknown"),
        rows.num_rows,
    )
    return {
        "direction": direction,
        "from_phone": common.normalise_phones(from_raw, region),
        "to_phone": common.normalise_phones(to_raw, region),
        "from_phone_raw": from_raw,
        "to_phone_raw": to_raw,
    }


__all__ = ["map_files", "name_collections"]
