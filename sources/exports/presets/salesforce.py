"""Salesforce activities: `Task.csv` (calls) and `Event.csv` (meetings) from the weekly Data
Export, Data Loader CSVs (upper-case headers, ISO times) and REST/SOQL `records` pages.

Facts (export_formats.md §4): Data Export datetimes are `YYYY-MM-DD HH:MM:SS` in UTC with no
marker (SOQL JSON writes `…T…+0000`), files are Windows-1252 (the reader falls back to it),
booleans are "0"/"1". A Task has no start time: `CompletedDateTime`, else `CreatedDate`, never
`ActivityDate` (a date pinned to UTC midnight). Only call Tasks are engagements: a Task with
neither `TaskSubtype`/`Type` = Call, a `CallType`, a `CallObject`, a `CallDisposition` nor a
positive `CallDurationInSeconds` (list e-mails carry "0") is rejected; Data Exports without
TaskSubtype/CallType values are read by their call data. A Task file with none of those columns
is rejected once, as a file (it cannot hold a call), naming the columns to export. An Event
starts at `StartDateTime`, else `ActivityDateTime` (+ `DurationInMinutes`); all-day events keep
their date. `IsChild` events are the invitees' copies of a group event: they fold (counted). OwnerId
is a user id, not an e-mail: owner_email stays null (an owner map resolves ids elsewhere).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sources.exports import common, nested
from sources.exports.canonical import (
    MapContext,
    MappedRows,
    RowRejection,
    SourceFile,
    count_rows,
    finish,
    name_by,
    prepared,
    reject,
    reject_other_collections,
    require_id_and_start,
    with_provenance,
)
from sources.exports.readers import Collection

KNOWN = ("tasks", "events")
EVENT_COLUMNS = {"activitydatetime", "startdatetime", "durationinminutes", "isalldayevent"}
TASK_COLUMNS = {"tasksubtype", "calltype", "calldurationinseconds", "completeddatetime"}
# A Task can be told a call only by one of these columns.
CALL_COLUMNS = (
    "TaskSubtype",
    "Type",
    "CallType",
    "CallDurationInSeconds",
    "CallDisposition",
    "CallObject",
)
DIRECTION = {"inbound": "inbound", "outbound": "outbound", "internal": "internal"}
STATUS = {"completed": "completed"}  # a Task's own status (to-do state)
# The call's result, when CallDisposition holds one of the usual words (it is free text).
DISPOSITION_STATUS = {
    "connected": "completed",
    "left voicemail": "voicemail",
    "voicemail": "voicemail",
    "left live message": "completed",
    "no answer": "no_answer",
    "busy": "busy",
    "wrong number": "failed",
}
TRUE = ("1", "true")
TIME_HINT = "YYYY-MM-DD HH:MM:SS (UTC) or ISO 8601 with an offset"


def name_collections(files: list[SourceFile]) -> None:
    """Tasks and Events by their columns (any case), else by `attributes.type` (SOQL JSON) or
    the file name (`Task.csv`, `Event.csv`)."""
    name_by(files, _named, unnamed=("rows", "records"))


def _named(path: str, coll: Collection) -> Collection | None:
    stem = path.rsplit("/", 1)[-1].lower()
    cols = {c.lower() for c in coll.rows.column_names}
    kind = _soql_type(coll.rows)
    if kind == "event" or (not kind and (cols & EVENT_COLUMNS or "event" in stem)):
        return Collection("events", coll.rows)
    if kind == "task" or (not kind and (cols & TASK_COLUMNS or "task" in stem)):
        return Collection("tasks", coll.rows)
    return None


def _soql_type(rows: pa.Table) -> str | None:
    """The sObject type of SOQL JSON rows (`attributes.type`), when they all agree."""
    if "attributes" not in rows.column_names:
        return None
    types = nested.extract_paths(rows, ["attributes.type"])["attributes.type"]
    distinct = pc.unique(pc.utf8_lower(types)).drop_null().to_pylist()
    return distinct[0] if len(distinct) == 1 else None


def map_files(files: list[SourceFile], context: MapContext) -> MappedRows:
    """Call Tasks and Events, one record per Salesforce Id."""
    name_collections(files)
    rejections = reject_other_collections(
        files, KNOWN, "not a Salesforce Task or Event row (no Task/Event columns)"
    )
    parts = []
    folded = 0
    no_calls = _without_call_columns(files)
    rejections += no_calls
    for name, prepare in (("tasks", _prepare_tasks), ("events", _prepare_events)):
        rows = with_provenance(files, (name,))
        if rows is not None:
            part, bad, children = prepare(rows)
            parts.append(part)
            rejections += bad
            folded += children
    records, duplicates = finish(parts, context)
    read = count_rows(files) + len(no_calls)
    return MappedRows(records, rejections, read=read, folded=folded + duplicates)


def _without_call_columns(files: list[SourceFile]) -> list[RowRejection]:
    """Task collections with none of CALL_COLUMNS: one rejection per file, standing for its rows
    (taken out of `files`, as an unreadable file's are), instead of one per row."""
    wanted = {c.lower() for c in CALL_COLUMNS}
    found = []
    for source in files:
        for i, coll in enumerate(source.collections):
            if coll.name != "tasks" or wanted & {c.lower() for c in coll.rows.column_names}:
                continue
            n = coll.rows.num_rows
            source.collections[i] = Collection("tasks", coll.rows.slice(0, 0))
            found.append(
                RowRejection(
                    "unreadable_file",
                    "TaskSubtype",
                    f"none of the file's {n} Task rows can be told a call: it has no "
                    f"{', '.join(CALL_COLUMNS)} column; export Task with TaskSubtype (or "
                    "CallType / CallDurationInSeconds / CallDisposition / CallObject)",
                    source.path,
                    0,
                    {"file": source.path, "rows": n},
                )
            )
    return found


def _col(rows: pa.Table, *names: str) -> pa.ChunkedArray:
    return common.column_any_case(rows, *names)


def _time(rows: pa.Table, *names: str) -> pa.ChunkedArray:
    """Data Export (naive UTC) or ISO times; `0000…AAA`-style blanks are nulls anyway."""
    return pc.coalesce(*(common.parse_time_as(_col(rows, n), "iso", "UTC") for n in names))


def _flag(rows: pa.Table, name: str) -> pa.ChunkedArray:
    return pc.fill_null(pc.is_in(pc.utf8_lower(_col(rows, name)), value_set=pa.array(TRUE)), False)


def _is_call(rows: pa.Table) -> pa.ChunkedArray:
    """Call tasks: TaskSubtype or Type Call, a CallType, a CallObject, or a positive duration
    (list e-mails carry CallDurationInSeconds "0")."""
    return common.any_of(
        pc.equal(pc.utf8_lower(_col(rows, "TaskSubtype")), "call"),
        pc.equal(pc.utf8_lower(_col(rows, "Type")), "call"),
        pc.is_valid(_col(rows, "CallType")),
        pc.is_valid(_col(rows, "CallObject")),
        pc.is_valid(_col(rows, "CallDisposition")),
        pc.greater(common.to_ms(_col(rows, "CallDurationInSeconds"), "s"), 0),
    )


def _prepare_tasks(rows: pa.Table) -> tuple[pa.Table, list[RowRejection], int]:
    rows, not_calls = reject(
        rows,
        pc.invert(_is_call(rows)),
        "unreadable_row",
        "TaskSubtype",
        "a Task that is not a call (TaskSubtype/Type is not Call, and no CallType, CallObject, "
        "CallDisposition or CallDurationInSeconds > 0): only calls and meetings become "
        "engagements",
    )
    start = _time(rows, "CompletedDateTime", "CreatedDate")
    rows, bad = require_id_and_start(
        rows, _col(rows, "Id"), start, ("Id", "CompletedDateTime"), TIME_HINT + " (nor CreatedDate)"
    )
    start, end, duration = common.derive_span(
        rows["_start"],
        pa.nulls(rows.num_rows, common.TIMESTAMP),
        common.to_ms(_col(rows, "CallDurationInSeconds"), "s"),
    )
    status_raw = _col(rows, "Status")
    columns: dict[str, Any] = {
        "kind": common.constant("call", rows.num_rows),
        "title": _col(rows, "Subject"),
        "body": _col(rows, "Description"),
        "started_at": start,
        "ended_at": end,
        "duration_ms": duration,
        "direction": common.map_values(_col(rows, "CallType"), DIRECTION, "unknown"),
        "status": pc.coalesce(
            common.map_values(_col(rows, "CallDisposition"), DISPOSITION_STATUS, None),
            common.map_values(status_raw, STATUS, "unknown"),
        ),
        "status_raw": status_raw,
        "disposition": _col(rows, "CallDisposition"),
    }
    return prepared(rows, columns), not_calls + bad, 0


def _prepare_events(rows: pa.Table) -> tuple[pa.Table, list[RowRejection], int]:
    child = _flag(rows, "IsChild")
    children = int(pc.sum(pc.cast(child, pa.int64())).as_py() or 0)
    rows = rows.filter(pc.invert(child))  # invitee copies fold into the organiser's event
    all_day = _flag(rows, "IsAllDayEvent")
    day = pc.if_else(all_day, _time(rows, "ActivityDate"), None)
    start = pc.coalesce(_time(rows, "StartDateTime", "ActivityDateTime"), day)
    rows, bad = require_id_and_start(
        rows, _col(rows, "Id"), start, ("Id", "ActivityDateTime"), TIME_HINT
    )
    start, end, duration = common.derive_span(
        rows["_start"],
        _time(rows, "EndDateTime"),
        common.to_ms(_col(rows, "DurationInMinutes"), "min"),
        measured_first=True,  # EndDateTime - StartDateTime beats the rounded minutes
    )
    columns: dict[str, Any] = {
        "kind": common.constant("meeting", rows.num_rows),
        "title": _col(rows, "Subject"),
        "body": _col(rows, "Description"),
        "started_at": start,
        "ended_at": end,
        "duration_ms": duration,
    }
    return prepared(rows, columns), bad, children


__all__ = ["map_files", "name_collections"]
