"""Gong calls: `GET /v2/calls` pages (flat call metadata) and `POST /v2/calls/extensive` pages
(`{metaData, parties, media, …}` per call), as JSON pages or JSONL.

Facts (export_formats.md §7): ids are 19-digit numbers above 2^53, kept as exact text (a JSON
float id is rejected, its digits may be gone); `started` is ISO 8601 with the workspace's offset
(sometimes with microseconds) or, in Gong's examples, Unix seconds; `duration` is in seconds;
a video call or one from a conferencing system is a meeting, else a call; `parties` give the
participants, the owner being the party whose userId is the call's `primaryUserId`; media URLs
(`media.audioUrl`, else `videoUrl`) are short-lived. An empty range answers 404 with an error
body, which is rejected as not calls.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sources.engagements.model import PARTICIPANT_TYPE
from sources.exports import common, nested
from sources.exports.canonical import (
    FILE_COL,
    ROW_COL,
    MapContext,
    MappedRows,
    RowRejection,
    SourceFile,
    map_prepared,
    name_by,
    prepared,
    reject_other_collections,
    require_id_and_start,
    with_provenance,
)
from sources.exports.readers import Collection

KNOWN = ("calls",)
# The explicit direction wins; `scope` (whether outside people took part) decides only when
# there is none: Internal -> internal, else unknown.
DIRECTION = {
    "inbound": "inbound",
    "outbound": "outbound",
    "conference": "unknown",
    "unknown": "unknown",
}
CONFERENCING = (
    "zoom",
    "google meet",
    "microsoft teams",
    "teams",
    "webex",
    "gotomeeting",
    "bluejeans",
    "ringcentral video",
    "whereby",
)
# An extensive row (with parties and media) over a flat one, then the later row.
PREFER = (("_extensive", "descending"), (FILE_COL, "descending"), (ROW_COL, "descending"))


def name_collections(files: list[SourceFile]) -> None:
    """JSONL or single-call files: rows with metaData, or with id and started, are calls."""
    name_by(
        files,
        lambda path, coll: (
            Collection("calls", coll.rows)
            if "metaData" in coll.rows.column_names
            or {"id", "started"} <= set(coll.rows.column_names)
            else None
        ),
    )


def map_files(files: list[SourceFile], context: MapContext) -> MappedRows:
    """One record per Gong call id, from flat and extensive pages alike."""
    name_collections(files)
    rejections = reject_other_collections(
        files, KNOWN, "not a Gong call (an API error body such as 404 'No calls found'?)"
    )
    rows = with_provenance(files, KNOWN)
    flat = _flatten(rows) if rows is not None else None
    return map_prepared(
        files, context, rejections, [(flat, _prepare)], PREFER, fill=("recording_url",)
    )


def _flatten(rows: pa.Table) -> pa.Table:
    """Extensive rows' metaData as columns beside flat rows' own; media URLs as _audio/_video
    (an extensive row's `media` object and its metaData `media` word share a name)."""
    urls = nested.extract_paths(rows, ["media.audioUrl", "media.videoUrl"])
    rows = rows.append_column("_audio", urls["media.audioUrl"])
    rows = rows.append_column("_video", urls["media.videoUrl"])
    if "metaData" not in rows.column_names:
        return rows
    has_meta = pc.is_valid(common.column(rows, "metaData"))
    extensive = nested.unwrap_json(rows.filter(has_meta), "metaData")
    flat = rows.filter(pc.invert(has_meta)).drop_columns(["metaData"])
    return pa.concat_tables([flat, extensive], promote_options="permissive")


def _prepare(rows: pa.Table, context: MapContext) -> tuple[pa.Table, list[RowRejection]]:
    text = common.column(rows, "started")
    start = pc.coalesce(common.parse_iso_times(text), common.parse_epoch(text, "s"))
    rows, rejections = require_id_and_start(
        rows, common.column(rows, "id"), start, ("id", "started"), "ISO 8601 or Unix seconds"
    )
    n = rows.num_rows
    start, end, duration = common.derive_span(
        rows["_start"],
        pa.nulls(n, common.TIMESTAMP),
        common.to_ms(common.column(rows, "duration"), "s"),
    )
    video = pc.equal(pc.utf8_lower(common.column(rows, "media")), "video")
    system = pc.utf8_lower(common.column(rows, "system"))
    meeting = common.any_of(video, pc.is_in(system, value_set=pa.array(CONFERENCING)))
    direction = pc.coalesce(
        common.map_values(common.column(rows, "direction"), DIRECTION, "unknown"),
        common.map_values(common.column(rows, "scope"), {"internal": "internal"}, "unknown"),
    )
    participants, owners = _parties(rows, context.default_region)
    columns: dict[str, Any] = {
        "kind": pc.if_else(meeting, "meeting", "call"),
        "title": common.column(rows, "title"),
        "started_at": start,
        "ended_at": end,
        "duration_ms": duration,
        "direction": direction,
        "disposition": pc.coalesce(common.column(rows, "sdrDisposition"), _outcome(rows)),
        "recording_url": pc.coalesce(rows["_audio"], rows["_video"]),
        "owner_email": owners,
        "participants": participants,
    }
    rows = rows.append_column("_extensive", pc.is_valid(common.column(rows, "parties")))
    return prepared(rows, columns, ("_extensive",)), rejections


def _outcome(rows: pa.Table) -> pa.ChunkedArray:
    """`callOutcome`: a word, or an object whose `name` is the outcome."""
    values = common.column(rows, "callOutcome")
    names = nested.extract_paths(rows, ["callOutcome.name"])["callOutcome.name"]
    plain = pc.if_else(pc.starts_with(pc.fill_null(values, ""), "{"), None, values)
    return pc.coalesce(names, plain)


def _parties(rows: pa.Table, region: str | None) -> tuple[pa.Array, pa.Array]:
    """Participants from each call's `parties` (per-row Python over a short list), and the
    primary user's e-mail as the owner."""
    primary = common.column(rows, "primaryUserId").to_pylist()
    lists: list[Any] = []
    owners: list[str | None] = []
    for parties, user in zip(
        nested.json_docs(common.column(rows, "parties")), primary, strict=True
    ):
        people, owner = [], None
        for party in parties if isinstance(parties, list) else []:
            if not isinstance(party, dict):
                continue
            phone = party.get("phoneNumber")
            is_owner = user is not None and str(party.get("userId")) == user
            is_owner = is_owner and party.get("affiliation") == "Internal"
            email = _text(party.get("emailAddress"))
            owner = email if is_owner and owner is None else owner
            person = {
                "name": _text(party.get("name")),
                "email": email,
                "phone": (common.to_e164(str(phone), region) or str(phone)) if phone else None,
                "is_owner": True if is_owner else None,
            }
            if person["name"] or person["email"] or person["phone"]:
                people.append(person)
        lists.append(people if isinstance(parties, list) else None)
        owners.append(owner)
    return pa.array(lists, pa.list_(PARTICIPANT_TYPE)), pa.array(owners, pa.string())


def _text(value: object) -> str | None:
    """A party's value as text: a number or a list where a string belongs never crashes."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


__all__ = ["map_files", "name_collections"]
