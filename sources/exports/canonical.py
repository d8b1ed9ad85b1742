"""What presets share beyond parsing: inputs, outputs, rejections, assembling canonical tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sources.engagements.model import CANONICAL_SCHEMA
from sources.exports.readers import Collection

FILE_COL = "_source_file"
ROW_COL = "_source_row"


@dataclass(frozen=True)
class SourceFile:
    path: str  # as shown to users: the file's path relative to the job's folder or bucket
    collections: list[Collection]


@dataclass(frozen=True)
class MapContext:
    prefix: str
    source_system: str
    default_region: str | None = None
    # Side tables staged by earlier runs of this job (e.g. "recordings"), for joins with rows
    # from files that are new to this run.
    known: Mapping[str, pa.Table] = field(default_factory=dict)


@dataclass(frozen=True)
class RowRejection:
    reason: str
    field: str
    message: str
    source_file: str
    source_row: int
    raw: Mapping[str, Any]
    external_id: str | None = None


@dataclass
class MappedRows:
    records: pa.Table  # CANONICAL_SCHEMA without content_hash filled in
    rejections: list[RowRejection] = field(default_factory=list)
    read: int = 0
    folded: int = 0
    lookups: dict[str, pa.Table] = field(default_factory=dict)  # side tables to stage


def with_provenance(files: list[SourceFile], names: tuple[str, ...]) -> pa.Table | None:
    """The collections called `names` from every file, stacked, with file and row columns."""
    tables = []
    for source in files:
        for coll in source.collections:
            if coll.name in names and coll.rows.num_rows:
                n = coll.rows.num_rows
                tables.append(
                    coll.rows.append_column(FILE_COL, pa.array([source.path] * n)).append_column(
                        ROW_COL, pa.array(range(1, n + 1), pa.int64())
                    )
                )
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="permissive")


def reject(
    table: pa.Table, mask: pa.ChunkedArray | pa.Array, reason: str, field_name: str, message: str
) -> tuple[pa.Table, list[RowRejection]]:
    """Split off the rows where `mask` holds as rejections; returns the rows that remain."""
    mask = pc.fill_null(mask, False)
    bad = table.filter(mask)
    rejections = [
        RowRejection(
            reason,
            field_name,
            message,
            row.pop(FILE_COL),
            row.pop(ROW_COL),
            {k: v for k, v in row.items() if v is not None and not k.startswith("_")},
        )
        for row in bad.to_pylist()
    ]
    return table.filter(pc.invert(mask)), rejections


def first_per_key(table: pa.Table, key: str) -> pa.Array:
    """Boolean mask: True for the first row of each run of equal `key` values (sort first)."""
    keys = table.column(key).combine_chunks()
    if len(keys) == 0:
        return pa.array([], pa.bool_())
    previous = pa.concat_arrays([pa.array([None], keys.type), keys.slice(0, len(keys) - 1)])
    return pc.fill_null(pc.not_equal(keys, previous), True)


def assemble(columns: Mapping[str, Any], num_rows: int) -> pa.Table:
    """A CANONICAL_SCHEMA table from the given columns; missing columns are null."""
    arrays = []
    for fld in CANONICAL_SCHEMA:
        value = columns.get(fld.name)
        if value is None:
            arrays.append(pa.nulls(num_rows, fld.type))
        else:
            arrays.append(
                pc.cast(value, fld.type)
                if not isinstance(value, list)
                else pa.array(value, fld.type)
            )
    return pa.Table.from_arrays([_whole(a) for a in arrays], schema=CANONICAL_SCHEMA)


def _whole(array: Any) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def phone_participants(
    from_phone: pa.Array, to_phone: pa.Array, from_name: pa.Array | None = None
) -> pa.Array:
    """[{from}, {to}] participant lists, built column-wise (no per-row Python)."""
    n = len(from_phone)
    nulls = pa.nulls(n, pa.string())
    fields = ["name", "email", "phone", "is_owner"]
    first = pa.StructArray.from_arrays(
        [
            _whole(from_name) if from_name is not None else nulls,
            nulls,
            _whole(from_phone),
            pa.nulls(n, pa.bool_()),
        ],
        fields,
    )
    second = pa.StructArray.from_arrays(
        [nulls, nulls, _whole(to_phone), pa.nulls(n, pa.bool_())], fields
    )
    interleave = pa.array([i // 2 + (n if i % 2 else 0) for i in range(2 * n)], pa.int64())
    values = pc.take(pa.concat_arrays([first, second]), interleave)
    offsets = pa.array(range(0, 2 * n + 1, 2), pa.int32())
    return pa.ListArray.from_arrays(offsets, values)
