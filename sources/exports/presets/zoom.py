"""Zoom cloud recordings: list pages `{"meetings": [...]}`, one meeting's recordings object, and
`recording.completed` webhooks (`payload.object`), each meeting with its `recording_files`.

Facts (export_formats.md §3): the meeting `id` repeats across instances of recurring meetings, so
the source id is the instance `uuid`; `start_time` is ISO `Z`; `duration` is in whole minutes (0
under a minute); files still `processing` have empty types and ends and no usable URL (the
meeting still stages, v2 then rejects it with no_media_url). The measured span beats the rounded
minutes: the duration runs from `start_time` to the latest `recording_end` of the meeting or
its files (so a 76-second meeting is 76,000 ms, not 0), else it is `duration` minutes; the end
is start + duration.
Download URLs need an OAuth token: the webhook's `download_token` is a credential and is dropped,
never stored with the URL.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sources.exports import common, nested
from sources.exports.canonical import (
    FILE_COL,
    ROW_COL,
    MapContext,
    MappedRows,
    RowRejection,
    SourceFile,
    count_rows,
    finish,
    name_by,
    participant_lists,
    prepared,
    reject,
    reject_other_collections,
    require_id_and_start,
    with_provenance,
)
from sources.exports.readers import Collection

KNOWN = ("meetings", "webhooks")
EVENTS = ("recording.completed", "recording.transcript_completed")
MEDIA_TYPES = ("MP4", "M4A")  # in order of preference
SECRETS = ("download_token", "password", "recording_play_passcode")
# The row that has a recording, then the latest webhook, then the later row.
PREFER = (
    ("_has_media", "descending"),
    ("_event_ts", "descending"),
    (FILE_COL, "descending"),
    (ROW_COL, "descending"),
)


def name_collections(files: list[SourceFile]) -> None:
    """JSONL/one-object files by columns: webhooks have event+payload, a meeting has uuid."""
    name_by(files, _named)


def _named(path: str, coll: Collection) -> Collection | None:
    cols = set(coll.rows.column_names)
    if {"event", "payload"} <= cols:
        return Collection("webhooks", coll.rows)
    if "uuid" in cols:
        return Collection("meetings", coll.rows)
    return None


def map_files(files: list[SourceFile], context: MapContext) -> MappedRows:
    """One meeting record per Zoom meeting instance (uuid), from pages and webhooks."""
    name_collections(files)
    rejections = reject_other_collections(
        files, KNOWN, "not a Zoom meeting with recording_files or a recording webhook"
    )
    tables = []
    pages = with_provenance(files, ("meetings",))
    if pages is not None:
        tables.append(pages.append_column("_event_ts", pa.nulls(pages.num_rows, common.TIMESTAMP)))
    hooks = with_provenance(files, ("webhooks",))
    if hooks is not None:
        meetings, other = _webhook_meetings(hooks)
        tables.append(meetings)
        rejections += other
    parts = []
    if tables:
        meetings = pa.concat_tables(tables, promote_options="permissive")
        meetings = meetings.drop_columns([c for c in SECRETS if c in meetings.column_names])
        part, bad = _prepare(meetings, context)
        parts.append(part)
        rejections += bad
    records, folded = finish(parts, context, PREFER, fill=("recording_url",))
    return MappedRows(records, rejections, read=count_rows(files), folded=folded)


def _webhook_meetings(hooks: pa.Table) -> tuple[pa.Table, list[RowRejection]]:
    hooks = hooks.drop_columns([c for c in SECRETS if c in hooks.column_names])
    event = common.column(hooks, "event")
    hooks, other = reject(
        hooks,
        pc.invert(pc.fill_null(pc.is_in(event, value_set=pa.array(EVENTS)), False)),
        "unreadable_row",
        "event",
        f"a Zoom webhook that carries no finished recording (only {', '.join(EVENTS)} do)",
    )
    ts = common.parse_epoch(common.column(hooks, "event_ts"), "ms")
    meetings = nested.unwrap_json(hooks.append_column("_event_ts", ts), "payload.object")
    return meetings, other


def _prepare(rows: pa.Table, context: MapContext) -> tuple[pa.Table, list[RowRejection]]:
    start = common.parse_iso_times(common.column(rows, "start_time"))
    rows, rejections = require_id_and_start(
        rows, common.column(rows, "uuid"), start, ("uuid", "start_time"), "an ISO 8601 time"
    )
    url, last_end = _recording_files(common.column(rows, "recording_files"))
    start = rows["_start"]
    own_end = common.parse_iso_times(common.column(rows, "recording_end"))
    latest = pc.max_element_wise(last_end.cast(pa.int64()), own_end.cast(pa.int64()))
    last_end = latest.cast(common.TIMESTAMP)
    last_end = pc.if_else(pc.greater_equal(last_end, start), last_end, None)
    start, end, duration = common.derive_span(
        start,
        last_end,
        common.to_ms(common.column(rows, "duration"), "min"),
        measured_first=True,
    )
    host = common.column(rows, "host_email")
    n = rows.num_rows
    columns: dict[str, Any] = {
        "kind": common.constant("meeting", n),
        "title": common.column(rows, "topic"),
        "started_at": start,
        "ended_at": end,
        "duration_ms": duration,
        "recording_url": url,
        "owner_email": host,
        "participants": participant_lists(
            [{"email": host, "is_owner": pc.if_else(pc.is_valid(host), True, None)}], n
        ),
    }
    rows = rows.append_column("_has_media", pc.is_valid(url))
    return prepared(rows, columns, ("_has_media", "_event_ts")), rejections


def _recording_files(values: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """Per meeting: the download URL of the first completed MP4 (else M4A), and the latest
    `recording_end` of any file. Per-row Python over each meeting's short list of files."""
    urls: list[str | None] = []
    ends: list[str | None] = []
    for files in nested.json_docs(values):
        found: dict[str, str] = {}
        latest: str | None = None
        for item in files if isinstance(files, list) else []:
            if not isinstance(item, dict):
                continue
            end = item.get("recording_end")
            if isinstance(end, str) and end and (latest is None or end > latest):
                latest = end  # Zoom writes every end as YYYY-MM-DDTHH:MM:SSZ: text order is time
            kind = str(item.get("file_type") or "").upper()
            if item.get("status", "completed") == "completed" and item.get("download_url"):
                found.setdefault(kind, str(item["download_url"]))
        urls.append(next((found[k] for k in MEDIA_TYPES if k in found), None))
        ends.append(latest)
    return (
        pa.chunked_array([pa.array(urls, pa.string())]),
        common.parse_iso_times(pa.chunked_array([pa.array(ends, pa.string())])),
    )


__all__ = ["map_files", "name_collections"]
