"""Twilio Programmable Voice: Calls API pages, BulkExport JSONL, CSV call logs, Recordings pages.

Facts (export_formats.md §1): times are RFC 2822 with an offset that is not always +0000, or ISO
8601 in BulkExport; `duration` is a string of seconds; a <Dial> produces a parent and a child leg
(`parent_call_sid`), and recordings always hang off the parent leg. So the source id of a call is
its root leg's sid: child legs fold into their parent, and a child exported without its parent
still keys on the parent's sid, so the parent arriving later merges instead of duplicating.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from sources.exports import common
from sources.exports.canonical import (
    FILE_COL,
    ROW_COL,
    Collection,
    MapContext,
    MappedRows,
    RowRejection,
    SideCollection,
    SourceFile,
    assemble,
    fold,
    name_by,
    phone_participants,
    prepared,
    reject,
    reject_other_collections,
    supersede,
    to_canonical,
    with_provenance,
)

STATUS = {
    "completed": "completed",
    "busy": "busy",
    "no-answer": "no_answer",
    "failed": "failed",
    "canceled": "canceled",
    # not over yet: a later export of the call gives its result
    "in-progress": "in_progress",
    "ringing": "in_progress",
    "queued": "in_progress",
}
DIRECTION = {
    "inbound": "inbound",
    "outbound-api": "outbound",
    "outbound-dial": "outbound",
    "trunking-originating": "outbound",
    "trunking-terminating": "inbound",
}
API_HOST = "https://api.twilio.com"
# A new recordings file can give a URL to calls staged from older files: read every file again.
REREAD_ALL_ON = ("recordings",)


def root_sid(calls: pa.Table) -> pa.ChunkedArray:
    """The sid a call row folds under: its parent's when it is a child leg, else its own."""
    return pc.coalesce(
        common.column(calls, "parent_call_sid", "ParentCallSid"),
        common.column(calls, "sid", "Sid", "CallSid"),
    )


def combine_recording_urls(table: pa.Table) -> pa.Table:
    """recording_urls rows of several blocks -> one URL per call (the same rule: the least)."""
    return (
        table.group_by("call_sid")
        .aggregate([("recording_url", "min")])
        .rename_columns(["call_sid", "recording_url"])
        .cast(RECORDINGS_SCHEMA)
    )


def looked_up_sids(calls: pa.Table) -> pa.ChunkedArray:
    """The sids _join_recordings looks recordings up by: the root's, and the row's own."""
    return pa.chunked_array(
        root_sid(calls).chunks + common.column(calls, "sid", "Sid", "CallSid").chunks
    )


# Big jobs are staged in partitions of calls grouped by root sid (sources/exports/partitions.py);
# recordings reduce block by block to one URL per call.
PARTITION_KEYS = {"calls": root_sid}


KNOWN = ("calls", "recordings")
CHILD_LEGS_LAST = (("_is_child", "ascending"),)  # a parent leg is the call's record


def map_files(files: list[SourceFile], context: MapContext) -> MappedRows:
    """Calls from every file, joined with the job's recordings (these files' and earlier ones')."""
    name_collections(files)
    calls = with_provenance(files, ("calls",))
    recordings = with_provenance(files, ("recordings",))
    urls = recording_urls(recordings) if recordings is not None else None
    lookups = {"recordings": urls} if urls is not None and urls.num_rows else {}
    urls = supersede(urls, context.known.get("recordings"), "call_sid", RECORDINGS_SCHEMA)
    rejections = reject_other_collections(
        files, KNOWN, "not a Twilio call or recording row (no sid with from/to/start_time)"
    )
    read = sum(c.rows.num_rows for f in files for c in f.collections if c.name != "recordings")
    if calls is None:
        return MappedRows(assemble({}, 0), rejections, read=read, lookups=lookups)
    calls, bad_rows = _parse_calls(calls)
    rejections += bad_rows
    calls, folded = fold(calls, "_root", CHILD_LEGS_LAST)
    calls = _join_recordings(calls, urls)
    records = to_canonical(prepared(calls, _columns(calls, context)), context, lookups)
    return MappedRows(records, rejections, read=read, folded=folded, lookups=lookups)


def name_collections(files: list[SourceFile]) -> None:
    """Name CSV / JSONL collections by their columns: calls have from/to, recordings call_sid."""
    name_by(files, _named)


def _named(path: str, coll: Collection) -> Collection | None:
    cols = {c.lower() for c in coll.rows.column_names}
    has_id = bool({"sid", "callsid"} & cols)
    if has_id and {"from", "to"} & cols:
        return Collection("calls", coll.rows)
    if {"call_sid", "callsid"} & cols:
        return Collection("recordings", coll.rows)
    if has_id and {"start_time", "starttime"} & cols:
        return Collection("calls", coll.rows)
    return None


def _parse_calls(calls: pa.Table) -> tuple[pa.Table, list[RowRejection]]:
    sid = common.column(calls, "sid", "Sid", "CallSid")
    parent = common.column(calls, "parent_call_sid", "ParentCallSid")
    # A call that never started (no-answer, busy) has no start_time: date_created stands in.
    start = pc.coalesce(
        common.parse_any_time(common.column(calls, "start_time", "StartTime")),
        common.parse_any_time(common.column(calls, "date_created", "DateCreated")),
    )
    calls = (
        calls.append_column("_sid", sid)
        .append_column("_root", root_sid(calls))
        .append_column("_id", root_sid(calls))
        .append_column("_is_child", pc.is_valid(parent))
        .append_column("_start", start)
    )
    calls, missing = reject(calls, pc.is_null(sid), "missing_id", "sid", "the row has no call sid")
    calls, bad_time = reject(
        calls,
        pc.is_null(calls.column("_start")),
        "bad_timestamp",
        "start_time",
        "start_time (or date_created) is missing or not a RFC 2822 / ISO 8601 time with an offset",
    )
    return calls, missing + bad_time


RECORDINGS_SCHEMA = pa.schema(
    [pa.field("call_sid", pa.string(), nullable=False), ("recording_url", pa.string())]
)


def recording_urls(recordings: pa.Table) -> pa.Table:
    """call_sid -> one https .mp3 URL per call, from completed recordings only."""
    status = common.column(recordings, "status", "Status")
    usable = pc.or_kleene(pc.is_null(status), pc.equal(status, "completed"))  # null OR x = x
    recordings = recordings.filter(pc.fill_null(usable, False))
    media = common.column(recordings, "media_url", "MediaUrl")
    uri = common.column(recordings, "uri", "Uri")
    from_uri = pc.binary_join_element_wise(
        API_HOST, pc.replace_substring_regex(uri, pattern=r"\.json$", replacement=""), ""
    )
    url = pc.replace_substring_regex(
        pc.coalesce(media, from_uri),
        pattern=r"^http://api\.twilio",
        replacement="https://api.twilio",
    )  # Twilio serves https
    url = pc.if_else(
        pc.match_substring_regex(url, r"\.(mp3|wav)$"),
        url,
        pc.binary_join_element_wise(url, ".mp3", ""),
    )
    table = pa.table({"call_sid": common.column(recordings, "call_sid", "CallSid"), "url": url})
    table = table.filter(pc.and_(pc.is_valid(table["call_sid"]), pc.is_valid(table["url"])))
    return combine_recording_urls(table.rename_columns(["call_sid", "recording_url"]))


def _join_recordings(calls: pa.Table, urls: pa.Table | None) -> pa.Table:
    """Recording URL by the root leg's sid (Twilio's rule), else by the kept row's own sid.

    A recording goes to one call at most. Twilio's sids are unique, but rows of any file may
    share one (child legs `1` under many parents): the own-sid fallback is for a sid no kept
    row has as its root, and only the first row naming it (by file and row) gets the URL. Else
    one URL cell would be copied into every such row (N rows: N copies, in every output)."""
    if urls is None:
        return calls.append_column("recording_url", pa.nulls(calls.num_rows, pa.string()))
    # only the URLs these calls can use: a partition's calls against the whole job's recordings
    # would cost memory in proportion to the job
    sids = pa.chunked_array(calls["_root"].chunks + calls["_sid"].chunks).unique()
    urls = urls.filter(pc.is_in(urls["call_sid"], value_set=sids))
    joined = calls.join(urls, keys="_root", right_keys="call_sid", join_type="left outer")
    joined = joined.sort_by([(FILE_COL, "ascending"), (ROW_COL, "ascending")])
    at = pa.array(range(joined.num_rows), pa.int64())
    free = pc.and_(
        pc.is_null(joined["recording_url"]),
        pc.invert(pc.is_in(joined["_sid"], value_set=joined["_root"].combine_chunks())),
    )
    claims = pa.table({"_sid": joined["_sid"], "_at": at}).filter(free)
    first = claims.group_by("_sid").aggregate([("_at", "min")])
    own = first.join(urls, keys="_sid", right_keys="call_sid", join_type="inner")
    own_url = pc.take(own["recording_url"], pc.index_in(at, value_set=own["_at_min"]))
    url = pc.coalesce(joined["recording_url"], own_url)
    return joined.set_column(joined.schema.get_field_index("recording_url"), "recording_url", url)


def _columns(calls: pa.Table, context: MapContext) -> dict[str, pa.ChunkedArray | pa.Array]:
    """The canonical columns of folded call rows (keys and provenance: to_canonical)."""
    region = context.default_region
    from_raw = common.column(calls, "from", "From")
    to_raw = common.column(calls, "to", "To")
    from_phone = common.normalise_phones(from_raw, region)
    to_phone = common.normalise_phones(to_raw, region)
    start = calls.column("_start")
    end = common.parse_any_time(common.column(calls, "end_time", "EndTime"))
    duration = pc.coalesce(
        common.seconds_to_ms(common.column(calls, "duration", "Duration")),
        common.duration_between(start, end),
    )
    status_raw = common.column(calls, "status", "Status")
    return {
        "kind": common.constant("call", calls.num_rows),
        "started_at": start,
        # start + duration whenever both are known (the same second as end_time when
        # Twilio's fields agree), else end_time
        "ended_at": pc.coalesce(pc.add(start, pc.cast(duration, pa.duration("ms"))), end),
        "duration_ms": duration,
        "direction": common.map_values(
            common.column(calls, "direction", "Direction"), DIRECTION, "unknown"
        ),
        "status": common.map_values(status_raw, STATUS, "unknown"),
        "status_raw": status_raw,
        "from_phone": from_phone,
        "to_phone": to_phone,
        "from_phone_raw": from_raw,
        "to_phone_raw": to_raw,
        "recording_url": calls.column("recording_url"),
        "participants": phone_participants(
            pc.coalesce(from_phone, from_raw),
            pc.coalesce(to_phone, to_raw),
            common.column(calls, "caller_name", "CallerName"),
        ),
    }


SIDE_COLLECTIONS = {
    "recordings": SideCollection(recording_urls, combine_recording_urls, "call_sid", looked_up_sids)
}

__all__ = [
    "PARTITION_KEYS",
    "REREAD_ALL_ON",
    "SIDE_COLLECTIONS",
    "map_files",
    "name_collections",
    "recording_urls",
]
