"""Aircall: REST call pages, webhook deliveries, and the dashboard "Call history" CSV export.

Facts (export_formats.md §2): the API and webhooks give call objects with Unix-second times,
`raw_digits` (the other party, spaced `+44 330 …` or `anonymous`) and the Aircall line in
`number.digits`; webhooks `{resource, event, timestamp, token, data}` arrive at least once and
out of order, so deliveries for one `data.id` fold into one record (the latest event wins);
deliveries stored as `{"name": "call.ended", "body": {…event…}}` envelopes read like bare
events. A call not `done` and with no `ended_at` is `in_progress` (its duration, 0 until it
ends, unknown) until a later event or export ends it. The
dashboard CSV has a `datetime (tz offset incl.)` column with no offset in each number's zone:
only `datetime (utc)` is safe; its `from`/`to` are digits without `+`; `call id (internal)` is the
API id, so a call staged from the CSV and from the API is one record.
"""

from __future__ import annotations

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

DIRECTION = {"inbound": "inbound", "outbound": "outbound", "internal": "internal"}
KNOWN = ("calls", "call", "webhooks", "envelopes", "dashboard")
NO_USER = "[No associated user]"
CSV_TIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")  # dayfirst .xls exports re-saved
# API pages are the state at fetch time; then the latest webhook; then the dashboard CSV.
PREFER = (
    ("_rank", "ascending"),
    ("_event_ts", "descending"),
    (FILE_COL, "descending"),
    (ROW_COL, "descending"),
)


def name_collections(files: list[SourceFile]) -> None:
    """JSONL/CSV by columns: webhooks have data+event, `{"call": …}` is one API call, the
    dashboard CSV has `datetime (utc)` / `call id`, other rows with id+started_at are calls."""
    name_by(files, _named)


def _named(path: str, coll: Collection) -> Collection | None:
    cols = {c.lower() for c in coll.rows.column_names}
    if "data" in cols and {"event", "resource"} & cols:
        return Collection("webhooks", coll.rows)
    if {"name", "body"} <= cols and "id" not in cols:
        return Collection("envelopes", coll.rows)
    if {"datetime (utc)", "call id (internal)", "call id"} & cols:
        return Collection("dashboard", coll.rows)
    if "call" in cols and "id" not in cols:
        return Collection("call", coll.rows)
    if {"id", "started_at"} <= cols:
        return Collection("calls", coll.rows)
    return None


def map_files(files: list[SourceFile], context: MapContext) -> MappedRows:
    """Calls from API pages, webhook logs and dashboard CSVs, one record per Aircall call id."""
    name_collections(files)
    rejections = reject_other_collections(
        files, KNOWN, "not an Aircall call object, call webhook or call-history CSV row"
    )
    sources = [
        (_api_rows(files, rejections), _prepare_api),
        (with_provenance(files, ("dashboard",)), _prepare_dashboard),
    ]
    return map_prepared(files, context, rejections, sources, PREFER, fill=("recording_url",))


def _api_rows(files: list[SourceFile], rejections: list[RowRejection]) -> pa.Table | None:
    """API calls and webhook `data` objects as one table of call objects (`_rank`, `_event_ts`)."""
    tables = []
    calls = with_provenance(files, ("calls",))
    if calls is not None:
        tables.append(_ranked(calls, 0, None))
    single = with_provenance(files, ("call",))
    if single is not None:
        tables.append(_ranked(nested.unwrap_json(single, "call"), 0, None))
    hooks = _webhooks(files)
    if hooks is not None:
        # The token authenticates deliveries: never keep it, not even in rejected rows.
        hooks = hooks.drop_columns([c for c in hooks.column_names if c.lower() == "token"])
        resource = common.column(hooks, "resource")
        hooks, other = reject(
            hooks,
            pc.and_(pc.is_valid(resource), pc.not_equal(resource, "call")),
            "unreadable_row",
            "resource",
            "an Aircall webhook about something other than a call",
        )
        rejections += other
        ts = common.parse_epoch(common.column(hooks, "timestamp"), "s")
        tables.append(_ranked(nested.unwrap_json(hooks, "data"), 1, ts))
    return pa.concat_tables(tables, promote_options="permissive") if tables else None


def _webhooks(files: list[SourceFile]) -> pa.Table | None:
    """Bare webhook events, and the events inside `{name, body}` envelopes, as one table."""
    tables = []
    bare = with_provenance(files, ("webhooks",))
    if bare is not None:
        tables.append(bare)
    wrapped = with_provenance(files, ("envelopes",))
    if wrapped is not None:
        tables.append(nested.unwrap_json(wrapped, "body").drop_columns(["name"]))
    return pa.concat_tables(tables, promote_options="permissive") if tables else None


def _ranked(table: pa.Table, rank: int, event_ts: pa.ChunkedArray | None) -> pa.Table:
    n = table.num_rows
    ts = event_ts if event_ts is not None else pa.nulls(n, common.TIMESTAMP)
    return table.append_column("_rank", common.constant(rank, n, pa.int64())).append_column(
        "_event_ts", ts
    )


def _prepare_api(rows: pa.Table, context: MapContext) -> tuple[pa.Table, list[RowRejection]]:
    start = common.parse_epoch(common.column(rows, "started_at"), "s")
    rows, rejections = require_id_and_start(
        rows, common.column(rows, "id"), start, ("id", "started_at"), "Unix seconds"
    )
    got = nested.extract_paths(
        rows,
        ["number.digits", "user.email", "user.name", "contact.first_name", "contact.last_name"],
    )
    ended = common.parse_epoch(common.column(rows, "ended_at"), "s")
    done = common.any_of(pc.is_valid(ended), pc.equal(common.column(rows, "status"), "done"))
    start, end, duration = common.derive_span(
        rows["_start"],
        ended,
        pc.if_else(done, common.to_ms(common.column(rows, "duration"), "s"), None),
    )
    direction = common.map_values(common.column(rows, "direction"), DIRECTION, "unknown")
    other, line = common.column(rows, "raw_digits"), got["number.digits"]
    answered = pc.is_valid(common.column(rows, "answered_at"))
    status = _status(rows, direction, answered, common.column(rows, "voicemail"))
    status = pc.if_else(pc.invert(done), "in_progress", status)
    first, last = got["contact.first_name"], got["contact.last_name"]
    contact = pc.coalesce(pc.binary_join_element_wise(first, last, " "), first, last)
    columns = _calls(rows, context, direction, *common.by_direction(direction, line, other))
    columns.update(
        started_at=start,
        ended_at=end,
        duration_ms=duration,
        status=status,
        status_raw=common.column(rows, "status"),
        body=nested.join_json_list(common.column(rows, "comments"), "content"),
        owner_email=got["user.email"],
        recording_url=_first(rows, "recording", "asset", "voicemail"),
    )
    columns["participants"] = _parties(columns, got["user.name"], got["user.email"], contact)
    return prepared(rows, columns, ("_rank", "_event_ts")), rejections


def _prepare_dashboard(rows: pa.Table, context: MapContext) -> tuple[pa.Table, list[RowRejection]]:
    col = common.column_any_case
    text = col(rows, "datetime (utc)")
    start = pc.coalesce(
        common.parse_time_as(text, "iso", "UTC"),
        *(common.parse_time_as(text, fmt, "UTC") for fmt in CSV_TIME_FORMATS),
    )
    ids = pc.coalesce(col(rows, "call id (internal)"), col(rows, "call id"))
    rows, rejections = require_id_and_start(
        rows, ids, start, ("call id (internal)", "datetime (utc)"), "YYYY-MM-DD HH:MM:SS[.fff]"
    )
    n = rows.num_rows
    direction = common.map_values(col(rows, "direction"), DIRECTION, "unknown")
    # No from/to digits: the formatted numbers ("Sales (+61 3 …)") stand in.
    line_from, line_to = common.by_direction(
        direction, col(rows, "aircall number"), col(rows, "customer number")
    )
    from_raw = pc.coalesce(col(rows, "from"), line_from)
    to_raw = pc.coalesce(col(rows, "to"), line_to)
    total = col(rows, "duration (total)")
    answered = pc.equal(pc.utf8_lower(col(rows, "answered")), "yes")
    user = col(rows, "user")
    user = pc.if_else(pc.equal(user, NO_USER), None, user)
    columns = _calls(rows, context, direction, from_raw, to_raw, bare_digits=True)
    start, end, duration = common.derive_span(
        rows["_start"],
        pa.nulls(n, common.TIMESTAMP),
        pc.coalesce(common.to_ms(total, "s"), common.parse_hms(total)),
    )
    columns.update(
        started_at=start,
        ended_at=end,
        duration_ms=duration,
        status=_status(rows, direction, answered, col(rows, "voicemail"), csv=True),
        status_raw=pc.coalesce(col(rows, "missed_call_reason"), col(rows, "answered")),
        body=col(rows, "comments"),
        recording_url=pc.coalesce(col(rows, "recording"), col(rows, "voicemail")),
    )
    columns["participants"] = _parties(columns, user, pa.nulls(n, pa.string()), None)
    ranked = _ranked(rows, 2, None)
    return prepared(ranked, columns, ("_rank", "_event_ts")), rejections


def _calls(
    rows: pa.Table,
    context: MapContext,
    direction: pa.ChunkedArray,
    from_raw: pa.ChunkedArray,
    to_raw: pa.ChunkedArray,
    bare_digits: bool = False,
) -> dict[str, object]:
    """kind, direction and the two numbers, in E.164 and as written."""
    phones = common.normalise_digits if bare_digits else common.normalise_phones
    return {
        "kind": common.constant("call", rows.num_rows),
        "direction": direction,
        "from_phone": phones(from_raw, context.default_region),
        "to_phone": phones(to_raw, context.default_region),
        "from_phone_raw": from_raw,
        "to_phone_raw": to_raw,
    }


def _status(
    rows: pa.Table,
    direction: pa.ChunkedArray,
    answered: pa.ChunkedArray,
    voicemail: pa.ChunkedArray,
    csv: bool = False,
) -> pa.ChunkedArray:
    """voicemail left > answered > missed (a reason, or unanswered inbound) > no_answer."""
    ended = (
        pc.is_valid(common.column_any_case(rows, "answered"))
        if csv
        else pc.equal(common.column(rows, "status"), "done")
    )
    missed_reason = pc.is_valid(common.column(rows, "missed_call_reason"))
    unanswered = pc.and_(ended, pc.invert(answered))
    return common.first_match(
        [
            (pc.is_valid(voicemail), "voicemail"),
            (answered, "completed"),
            (missed_reason, "missed"),
            (pc.and_(unanswered, pc.equal(direction, "inbound")), "missed"),
            (pc.and_(unanswered, pc.equal(direction, "outbound")), "no_answer"),
        ],
        "unknown",
        rows.num_rows,
    )


def _parties(
    columns: dict[str, object],
    agent_name: pa.ChunkedArray,
    agent_email: pa.ChunkedArray,
    contact_name: pa.ChunkedArray | None,
) -> pa.Array:
    """The agent (owner; on the line's number) and the other party (on theirs)."""
    n = len(agent_name)
    outbound = pc.equal(columns["direction"], "outbound")
    line_phone = pc.if_else(outbound, columns["from_phone"], columns["to_phone"])
    other_phone = pc.if_else(outbound, columns["to_phone"], columns["from_phone"])
    has_agent = pc.or_(pc.is_valid(agent_name), pc.is_valid(agent_email))
    agent = {
        "name": agent_name,
        "email": agent_email,
        "phone": pc.if_else(has_agent, line_phone, None),
        "is_owner": pc.if_else(has_agent, True, None),
    }
    other = (
        {"phone": other_phone}
        if contact_name is None
        else {"name": contact_name, "phone": other_phone}
    )
    return participant_lists([agent, other], n)


def _first(rows: pa.Table, *names: str) -> pa.ChunkedArray:
    return pc.coalesce(*(common.column(rows, n) for n in names))


__all__ = ["map_files", "name_collections"]
