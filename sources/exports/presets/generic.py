"""Generic preset: any export described by a TOML mapping file (sources/exports/mapping.py
documents the format). The job passes the parsed file as `MapContext.options["mapping"]`.

Same rules as every preset: ids are exact text, times end in UTC, durations in ms, phones in
E.164 (raw kept), every row staged, folded (rows sharing a source_id) or rejected.
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
    participant_lists,
    prepared,
    reject,
    reject_other_collections,
    require_id_and_start,
    with_provenance,
)
from sources.exports.mapping import FieldSpec, MappingFile, load_mapping

# Without a map, our own words and common synonyms are understood.
DIRECTION = {
    **{w: w for w in ("inbound", "outbound", "internal", "unknown")},
    **dict.fromkeys(("in", "incoming", "inbound call"), "inbound"),
    **dict.fromkeys(
        ("out", "outgoing", "outbound call", "outbound-api", "outbound-dial"), "outbound"
    ),
}
STATUS = {
    **{w: w for w in ("completed", "busy", "failed", "voicemail", "missed", "canceled", "unknown")},
    **dict.fromkeys(("answered", "connected", "complete", "done"), "completed"),
    **dict.fromkeys(("no_answer", "no-answer", "no answer", "unanswered"), "no_answer"),
    "cancelled": "canceled",
    **dict.fromkeys(("in_progress", "in-progress", "in progress", "ongoing"), "in_progress"),
}
TEXT_FIELDS = ("title", "body", "disposition", "recording_url", "transcript_text", "owner_email")


def map_files(files: list[SourceFile], context: MapContext) -> MappedRows:
    """Rows of the mapped collections -> canonical records as the mapping says."""
    mapping = load_mapping(context.options.get("mapping"))
    names = mapping.collections or tuple({c.name for f in files for c in f.collections})
    rejections = reject_other_collections(
        files, names, f"not in the mapping's collections ({', '.join(names)})"
    )
    parts = []
    rows = with_provenance(files, names)
    if rows is not None:
        if mapping.unwrap:
            rows = nested.unwrap_json(rows, mapping.unwrap)
        part, bad = _prepare(rows, mapping, context)
        parts.append(part)
        rejections += bad
    prefer = ((FILE_COL, "descending"), (ROW_COL, "descending")) if mapping.keep == "last" else ()
    records, folded = finish(parts, context, prefer)
    notes = _notes(parts, records)
    return MappedRows(records, rejections, read=count_rows(files), folded=folded, notes=notes)


def _notes(parts: list[pa.Table], records: pa.Table) -> dict[str, list[str]]:
    """Per staged record, the warnings of the row it was read from (wall-clock times in a DST
    gap or overlap, read by the policy of common.localise)."""
    warned = {}
    for part in parts:
        flagged = part.filter(pc.is_valid(part["_time_warning"]))
        for file, row, warning in zip(
            *(flagged[c].to_pylist() for c in (FILE_COL, ROW_COL, "_time_warning")), strict=True
        ):
            warned[(file, row)] = warning.split(",")
    if not warned:
        return {}
    columns = ("source_file", "source_row", "external_id")
    keys = zip(*(records[c].to_pylist() for c in columns), strict=True)
    return {eid: warned[(f, r)] for f, r, eid in keys if (f, r) in warned}


def _values(rows: pa.Table, spec: FieldSpec | None) -> pa.ChunkedArray:
    """The field's text per row: the constant, or the first non-null of its paths."""
    if spec is None:
        return common.column(rows)
    if spec.value is not None:
        return pa.chunked_array([common.constant(spec.value, rows.num_rows)])
    found = nested.extract_paths(rows, spec.paths)
    return pc.coalesce(*(found[p] for p in spec.paths))


def _mapped(rows: pa.Table, spec: FieldSpec | None, table: dict[str, str]) -> pa.ChunkedArray:
    """Words through the field's map (else `table`), unmapped -> its default ('unknown')."""
    values = _values(rows, spec)
    if spec is None or spec.value is not None:
        return values if spec is not None else pc.cast(values, pa.string())
    return common.map_values(values, spec.map or table, spec.default or "unknown")


def _text(rows: pa.Table, spec: FieldSpec | None) -> pa.ChunkedArray:
    values = _values(rows, spec)
    if spec is None or not spec.map:
        return values
    return pc.coalesce(common.map_values(values, spec.map, spec.default), values)


def _times(rows: pa.Table, specs: dict[str, FieldSpec]) -> dict[str, pa.ChunkedArray]:
    out = {}
    for name in ("started_at", "ended_at"):
        spec = specs.get(name)
        values = _values(rows, spec)
        out[name] = (
            common.parse_time_as(values, spec.format, spec.zone)
            if spec is not None
            else pc.cast(values, common.TIMESTAMP)
        )
    spec = specs.get("duration_ms")
    values = _values(rows, spec)
    out["duration_ms"] = (
        common.parse_duration(values, spec.unit) if spec else pc.cast(values, pa.int64())
    )
    start, end, duration = common.derive_span(
        out["started_at"], out["ended_at"], out["duration_ms"]
    )
    return {"started_at": start, "ended_at": end, "duration_ms": duration}


def _dst_warnings(rows: pa.Table, specs: dict[str, FieldSpec]) -> pa.ChunkedArray:
    """The DST warnings of the row's start and end times, comma-joined (null when none)."""
    found = []
    for name in ("started_at", "ended_at"):
        spec = specs.get(name)
        if spec is not None:
            found.append(common.dst_warnings(_values(rows, spec), spec.format, spec.zone))
    if not found:
        return pa.chunked_array([pa.nulls(rows.num_rows, pa.string())])
    return _join(found)


def _join(parts: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    """Comma-joined non-null strings per row, null when all are null (Arrow's `skip` null
    handling drops whole rows of chunked input, so it is not used)."""
    joined = parts[0]
    for part in parts[1:]:
        joined = pc.coalesce(pc.binary_join_element_wise(joined, part, ","), joined, part)
    return joined


def _prepare(
    rows: pa.Table, mapping: MappingFile, context: MapContext
) -> tuple[pa.Table, list[RowRejection]]:
    specs = dict(mapping.fields)
    rows, bad_kind = _kinds(rows, specs["kind"])
    times = _times(rows, specs)
    rows = rows.append_column("_time_warning", _dst_warnings(rows, specs))
    rows = rows.append_column("_end", times["ended_at"])
    rows = rows.append_column("_duration", times["duration_ms"])
    start_spec = specs.get("started_at")
    rows, rejections = require_id_and_start(
        rows,
        _values(rows, specs["source_id"]),
        times["started_at"],
        ("source_id", "started_at"),
        f"a time in the mapped format ({start_spec.format if start_spec else 'end - duration'})",
    )
    columns: dict[str, Any] = {
        "kind": rows["_kind"],
        "started_at": rows["_start"],
        "ended_at": rows["_end"],
        "duration_ms": rows["_duration"],
    }
    columns.update({name: _text(rows, specs.get(name)) for name in TEXT_FIELDS})
    status_raw = _values(rows, specs.get("status"))
    columns.update(
        direction=_mapped(rows, specs.get("direction"), DIRECTION),
        status=_mapped(rows, specs.get("status"), STATUS),
        status_raw=status_raw if specs.get("status") else None,
    )
    columns.update(_phones(rows, specs, mapping.phone_region or context.default_region))
    owner = columns["owner_email"]
    columns["participants"] = participant_lists(
        [
            {"phone": columns["from_phone"]},
            {"phone": columns["to_phone"]},
            {"email": owner, "is_owner": pc.if_else(pc.is_valid(owner), True, None)},
        ],
        rows.num_rows,
    )
    return prepared(rows, columns, ("_time_warning",)), bad_kind + rejections


def _kinds(rows: pa.Table, spec: FieldSpec) -> tuple[pa.Table, list[RowRejection]]:
    """`_kind` per row; rows whose kind maps to neither call nor meeting are rejected."""
    kind = _values(rows, spec)
    if spec.map:
        kind = common.map_values(kind, spec.map, spec.default)
    known = pc.fill_null(pc.is_in(kind, value_set=pa.array(["call", "meeting"])), False)
    return reject(
        rows.append_column("_kind", kind),
        pc.invert(known),
        "unreadable_row",
        "kind",
        "the mapped kind is neither call nor meeting (add the word to [fields].kind.map)",
    )


def _phones(rows: pa.Table, specs: dict[str, FieldSpec], region: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("from_phone", "to_phone"):
        spec = specs.get(name)
        raw = _values(rows, spec)
        out[name] = common.normalise_phones(raw, (spec.region if spec else None) or region)
        out[f"{name}_raw"] = raw
    return out


__all__ = ["map_files"]
