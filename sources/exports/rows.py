"""Rows in, rejections out: the collections of a job's files stacked with their provenance
(file and row), and the rows a preset refuses, each kept as a rejection (never dropped).

Pure (pyarrow only). canonical.py re-exports these for presets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sources.exports import common
from sources.exports.collection import ROW_COL, Collection

FILE_COL = "_source_file"


@dataclass(frozen=True)
class SourceFile:
    path: str  # as shown to users: the file's path relative to the job's folder or bucket
    collections: list[Collection]


@dataclass(frozen=True)
class RowRejection:
    reason: str
    field: str
    message: str
    source_file: str
    source_row: int
    raw: Any  # the row's cells (a mapping), or the JSON value of a row that is not an object
    external_id: str | None = None


def name_by(
    files: list[SourceFile],
    rule: Callable[[str, Collection], Collection | None],
    unnamed: tuple[str, ...] = ("rows",),
) -> None:
    """Give each collection a file did not name (CSV, JSONL, one object) the name `rule` finds
    from its file path and columns; None leaves it as it is."""
    for source in files:
        for i, coll in enumerate(source.collections):
            if coll.name in unnamed and (named := rule(source.path, coll)) is not None:
                source.collections[i] = named


def unreadable_file(path: str, error: Exception) -> RowRejection:
    """A file that cannot be read at all: one rejection standing for all its rows."""
    return RowRejection("unreadable_file", "*", str(error), path, 0, {"file": path})


def line_rejections(path: str, collections: list[Collection]) -> list[RowRejection]:
    """The rows a reader refused (ragged, badly encoded, too large), each with its number."""
    return [
        RowRejection(p.reason, p.field, p.message, path, p.row, p.raw)
        for c in collections
        for p in c.problems
    ]


def with_provenance(files: list[SourceFile], names: tuple[str, ...]) -> pa.Table | None:
    """The collections called `names` from every file, stacked, with file and row columns."""
    tables = []
    for source in files:
        for coll in source.collections:
            if coll.name in names and coll.rows.num_rows and FILE_COL in coll.rows.column_names:
                tables.append(coll.rows)  # a partition's rows keep their original file and row
            elif coll.name in names and coll.rows.num_rows and ROW_COL in coll.rows.column_names:
                n = coll.rows.num_rows  # the reader dropped rows: its numbers are the true ones
                tables.append(coll.rows.append_column(FILE_COL, pa.array([source.path] * n)))
            elif coll.name in names and coll.rows.num_rows:
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
            # `_raw`: a JSON value that is not an object (5, null, [1,2]), kept as its text
            {k: v for k, v in row.items() if v is not None and (k == "_raw" or k[0] != "_")},
        )
        for row in bad.to_pylist()
    ]
    return table.filter(pc.invert(mask)), rejections


def count_rows(files: list[SourceFile]) -> int:
    """Input rows of every collection: what `read` counts."""
    return sum(c.rows.num_rows for f in files for c in f.collections)


def reject_other_collections(
    files: list[SourceFile], known: tuple[str, ...], message: str
) -> list[RowRejection]:
    """Rows of collections the preset does not read: rejected (unreadable_row), never dropped."""
    others = tuple({c.name for f in files for c in f.collections} - set(known))
    table = with_provenance(files, others) if others else None
    if table is None:
        return []
    return reject(table, pa.array([True] * table.num_rows), "unreadable_row", "*", message)[1]


def require_id_and_start(
    table: pa.Table,
    ids: pa.ChunkedArray,
    start: pa.ChunkedArray,
    fields: tuple[str, str],
    start_hint: str,
) -> tuple[pa.Table, list[RowRejection]]:
    """Append `_id` and `_start`; reject rows without a usable id (missing_id) or start time
    (bad_timestamp). `fields` names the id and time fields for messages; `start_hint` says
    which formats were tried."""
    exact, lossy = common.source_ids(ids)
    table = table.append_column("_id", exact).append_column("_start", start)
    table, floats = reject(
        table,
        lossy,
        "missing_id",
        fields[0],
        f"{fields[0]} was exported as a floating-point number and may have lost digits; "
        "export ids as strings or integers",
    )
    table, missing = reject(
        table, pc.is_null(table["_id"]), "missing_id", fields[0], f"the row has no {fields[0]}"
    )
    table, bad = reject(
        table,
        pc.is_null(table["_start"]),
        "bad_timestamp",
        fields[1],
        f"{fields[1]} is missing or not {start_hint}",
    )
    return table, floats + missing + bad
