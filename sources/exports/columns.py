"""Canonical columns from prepared ones: CANONICAL_SCHEMA tables, participant lists, and the
parts `finish` takes. Column-wise (pyarrow), no per-row Python.

Pure. canonical.py re-exports these for presets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sources.engagements.model import CANONICAL_SCHEMA, PARTICIPANT_TYPE
from sources.exports.collection import ROW_COL
from sources.exports.rows import FILE_COL


def assemble(columns: Mapping[str, Any], num_rows: int) -> pa.Table:
    """A CANONICAL_SCHEMA table from the given columns; missing columns are null."""
    arrays = []
    for fld in CANONICAL_SCHEMA:
        value = columns.get(fld.name)
        if value is None:
            arrays.append(pa.nulls(num_rows, fld.type))
        else:
            arrays.append(_column(value, fld.type))
    return pa.Table.from_arrays([_whole(a) for a in arrays], schema=CANONICAL_SCHEMA)


# What Python's datetime holds (0001-01-01 .. 9999-12-31): a time beyond it is clamped to the
# boundary so that no value can abort the stage; limits.py then rejects it as out of range.
_MIN_MS, _MAX_MS = -62_135_596_800_000, 253_402_300_799_999


def _column(value: Any, type_: pa.DataType) -> Any:
    if isinstance(value, list):
        return pa.array(value, type_)
    if pa.types.is_timestamp(type_) and pa.types.is_timestamp(value.type):
        ms = pc.cast(pc.cast(value, pa.timestamp("ms", tz="UTC"), safe=False), pa.int64())
        ms = pc.min_element_wise(
            pc.max_element_wise(ms, _MIN_MS, skip_nulls=False), _MAX_MS, skip_nulls=False
        )
        return pc.cast(pc.cast(ms, pa.timestamp("ms", tz="UTC")), type_)
    return pc.cast(value, type_)


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


def prepared(table: pa.Table, columns: Mapping[str, Any], extra: tuple[str, ...] = ()) -> pa.Table:
    """A part for `finish`: canonical `columns` plus `_id`, provenance and `extra` of `table`."""
    keep = ("_id", FILE_COL, ROW_COL, *extra)
    data = {k: _whole(v) for k, v in columns.items() if v is not None}
    data.update({k: _whole(table[k]) for k in keep})
    return pa.table(data)


def participant_lists(parties: list[Mapping[str, Any]], num_rows: int) -> pa.Array:
    """Per row, one participant per party given as columns (name, email, phone, is_owner);
    parties with no name, email or phone on a row are left out. Column-wise, no per-row Python."""
    structs, keeps = [], []
    for party in parties:
        values = [
            _whole(party.get(f.name, pa.nulls(num_rows, f.type))).cast(f.type)
            for f in PARTICIPANT_TYPE
        ]
        structs.append(pa.StructArray.from_arrays(values, fields=list(PARTICIPANT_TYPE)))
        keeps.append(
            pc.or_(pc.or_(pc.is_valid(values[0]), pc.is_valid(values[1])), pc.is_valid(values[2]))
        )
    k = len(parties)
    order = pa.array([(i % k) * num_rows + i // k for i in range(k * num_rows)], pa.int64())
    values = pc.take(pa.concat_arrays(structs), order).filter(
        pc.take(pa.concat_arrays(keeps), order)
    )
    counts = pa.array([0] * num_rows, pa.int64())
    for keep in keeps:
        counts = pc.add(counts, pc.cast(keep, pa.int64()))
    offsets = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(counts)])
    return pa.ListArray.from_arrays(pc.cast(offsets, pa.int32()), values)
