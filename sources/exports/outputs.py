"""Mapped rows -> the staging tables: canonical records with hashes, v1/v2 requests, rejections.

Pure. The one per-row loop of the stage path lives here: each canonical record is built into a
v1 and a v2 request (or a per-target rejection). Every input row ends in exactly one place:
staged, folded (counted) or rejected (DESIGN invariant 2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sources.engagements import vectorised
from sources.engagements.builders import (
    BuiltRequest,
    Rejection,
    build_v1_request,
    build_v2_request,
)
from sources.engagements.model import PROVENANCE_COLUMNS, CanonicalRecord
from sources.engagements.settings import BuildSettings
from sources.exports import limits
from sources.exports.canonical import MappedRows, RowRejection

REQUEST_SCHEMA = pa.schema(
    [
        pa.field("external_id", pa.string(), nullable=False),
        ("job", pa.string()),
        ("kind", pa.string()),
        ("source_system", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("body", pa.string()),
        ("content_hash", pa.string()),
        ("warnings", pa.string()),
    ]
)
REJECTION_SCHEMA = pa.schema(
    [
        pa.field("rejection_id", pa.string(), nullable=False),
        ("job", pa.string()),
        ("target", pa.string()),
        ("reason", pa.string()),
        ("field", pa.string()),
        ("message", pa.string()),
        ("external_id", pa.string()),
        ("source_system", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("raw", pa.string()),
    ]
)
CHUNK_ROWS = 50_000
BUILDERS = {"v1": build_v1_request, "v2": build_v2_request}


@dataclass
class StageOutputs:
    tables: dict[str, pa.Table]  # calls, meetings, v1_requests, v2_requests, rejected_records
    read: int = 0
    staged: int = 0
    folded: int = 0
    rejected: int = 0  # records that could not be read at all (target NULL)
    target_rejected: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)  # "<target or record>:<reason>" -> n
    files: int = 0  # files read (set by the caller, which reads them)
    deleted: dict[str, pa.Array] = field(default_factory=dict)  # stale keys, per table


def build_outputs(
    mapped: MappedRows, settings: BuildSettings, job: str, targets: tuple[str, ...] = ("v1", "v2")
) -> StageOutputs:
    records, out_of_bounds = limits.check_records(mapped.records)
    mapped.rejections = mapped.rejections + out_of_bounds
    built = vectorised.build(records, settings, job, targets)
    python_hashes: list[str] = []  # of the rows builders.py builds, in row order
    parts: dict[str, list[pa.Table]] = {
        t: [built.requests[t].cast(REQUEST_SCHEMA)] for t in targets
    }
    rejections = [_row_rejection(r, job, settings.source_system) for r in mapped.rejections]
    # What the SQL does not cover goes through builders.py, row by row, in chunks: a record's
    # Python dict lives only while its chunk is built.
    rest = pc.indices_nonzero(pc.invert(built.plain)).to_pylist()
    for offset in range(0, len(rest), CHUNK_ROWS):
        positions = rest[offset : offset + CHUNK_ROWS]
        requests: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
        for row in _rows(records.take(positions)):
            python_hashes.append(record_hash(row))
            for target in targets:
                one = BUILDERS[target](row, settings)
                if isinstance(one, Rejection):
                    rejections.append(_target_rejection(one, row, job))
                else:
                    requests[target].append(_request_row(one, row, job))
        for target, built_rows in requests.items():
            parts[target].append(pa.Table.from_pylist(built_rows, REQUEST_SCHEMA))
    hashes = pc.replace_with_mask(
        built.record_hashes, pc.invert(built.plain), pa.array(python_hashes, pa.string())
    )
    records = records.set_column(
        records.schema.get_field_index("content_hash"), "content_hash", hashes
    )
    records = records.append_column("job", pa.array([job] * records.num_rows, pa.string()))
    rejected = pa.concat_tables(
        [
            pa.Table.from_pylist(rejections, REJECTION_SCHEMA),
            built.rejections.cast(REJECTION_SCHEMA),
        ]
    )
    tables = {
        "calls": records.filter(pc.equal(records["kind"], "call")),
        "meetings": records.filter(pc.equal(records["kind"], "meeting")),
        "rejected_records": rejected,
    }
    for target, tables_of_target in parts.items():
        tables[f"{target}_requests"] = _noted(pa.concat_tables(tables_of_target), mapped.notes)
    for name, lookup in mapped.lookups.items():
        tables[name] = lookup.append_column("job", pa.array([job] * lookup.num_rows, pa.string()))
    counted = rejected.group_by(["target", "reason"]).aggregate([("reason", "count")])
    reasons = {
        f"{target or 'record'}:{reason}": n
        for target, reason, n in zip(*(c.to_pylist() for c in counted.columns), strict=True)
    }
    per_target = {t: sum(n for k, n in reasons.items() if k.startswith(f"{t}:")) for t in targets}
    return StageOutputs(
        tables,
        read=mapped.read,
        staged=records.num_rows,
        folded=mapped.folded,
        rejected=len(mapped.rejections),
        target_rejected=per_target,
        reasons=reasons,
        deleted=tombstones(tables, targets),
    )


DELETED = "_deleted"  # dlt hard_delete column: a row flagged True removes the staged row


def tombstones(tables: dict[str, pa.Table], targets: tuple[str, ...]) -> dict[str, pa.Array]:
    """Keys of staged rows this run makes stale (DESIGN invariant 7): a record refused for a
    target loses its old request; a record sendable to a target loses its old rejection."""
    rejected = tables["rejected_records"]
    gone: dict[str, pa.Array] = {}
    cleared = []
    for target in targets:
        refused = rejected.filter(pc.equal(rejected["target"], target))["external_id"]
        gone[f"{target}_requests"] = refused.combine_chunks().cast(pa.string())
        sendable = tables[f"{target}_requests"]["external_id"]
        cleared.append(pc.binary_join_element_wise(target, sendable, ":").combine_chunks())
    gone["rejected_records"] = pa.concat_arrays(cleared) if cleared else pa.array([], pa.string())
    return gone


def with_tombstones(table: pa.Table, keys: dict[str, pa.Array]) -> pa.Table:
    """`table` flagged live, plus one row per deleted key flagged for dlt's hard delete."""
    live = table.append_column(DELETED, pa.array([False] * table.num_rows, pa.bool_()))
    count = len(next(iter(keys.values())))
    dead = pa.table({**keys, DELETED: pa.array([True] * count, pa.bool_())})
    return pa.concat_tables([live, dead], promote_options="default")


def _noted(requests: pa.Table, notes: dict[str, list[str]]) -> pa.Table:
    """Requests with the mapping's warnings of their record added to the builders' own."""
    if not notes or requests.num_rows == 0:
        return requests
    ids = pa.array(list(notes), pa.string())
    words = pa.array([",".join(w) for w in notes.values()], pa.string())
    extra = pc.take(words, pc.index_in(requests["external_id"], value_set=ids))
    old = requests["warnings"]
    warnings = pc.coalesce(pc.binary_join_element_wise(old, extra, ","), old, extra)
    return requests.set_column(requests.schema.get_field_index("warnings"), "warnings", warnings)


def _rows(table: pa.Table) -> list[CanonicalRecord]:
    """Column-wise conversion (much faster than Table.to_pylist on wide tables)."""
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    return [
        dict(zip(columns, values, strict=True))  # type: ignore[misc]
        for values in zip(*columns.values(), strict=True)
    ]


def record_hash(record: CanonicalRecord) -> str:
    """Hash of what the record says (not where it was read from)."""
    content = {k: v for k, v in record.items() if k not in PROVENANCE_COLUMNS}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _request_row(built: BuiltRequest, row: CanonicalRecord, job: str) -> dict[str, Any]:
    return {
        "external_id": built.external_id,
        "job": job,
        "kind": row["kind"],
        "source_system": row["source_system"],
        "started_at": row.get("started_at"),
        "body": orjson.dumps(built.body, option=orjson.OPT_SORT_KEYS).decode(),
        "content_hash": built.content_hash,
        "warnings": ",".join(built.warnings) or None,
    }


def _target_rejection(rejection: Rejection, row: CanonicalRecord, job: str) -> dict[str, Any]:
    return {
        "rejection_id": f"{rejection.target}:{row['external_id']}",
        "job": job,
        "target": rejection.target,
        "reason": rejection.reason,
        "field": rejection.field,
        "message": rejection.message,
        "external_id": row["external_id"],
        "source_system": row["source_system"],
        "source_file": row.get("source_file"),
        "source_row": row.get("source_row"),
        "raw": None,
    }


def _row_rejection(r: RowRejection, job: str, source_system: str) -> dict[str, Any]:
    key = f"{job}\x1f{r.source_file}\x1f{r.source_row}"
    return {
        "rejection_id": "row:" + hashlib.sha256(key.encode()).hexdigest()[:32],
        "job": job,
        "target": None,
        "reason": r.reason,
        "field": r.field,
        "message": r.message,
        "external_id": r.external_id,
        "source_system": source_system,
        "source_file": r.source_file,
        "source_row": r.source_row,
        "raw": orjson.dumps(
            dict(r.raw) if isinstance(r.raw, Mapping) else r.raw, default=str
        ).decode(),
    }
