"""What presets share beyond parsing: inputs, outputs, rejections, assembling canonical tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sources.engagements.model import CANONICAL_SCHEMA, PARTICIPANT_TYPE
from sources.exports import common
from sources.exports.collection import ROW_COL, Collection

FILE_COL = "_source_file"
# A preset whose keying rule changed gives each row's id under the old rule here: a record
# staged under it keeps its external_id (resolve_keys).
LEGACY_COL = "_legacy_id"
KEYS_TABLE = "source_keys"  # staged: (job, source_key) -> the external_id it is staged under


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
    # Preset-specific settings. The generic preset reads options["mapping"]: the mapping file's
    # TOML parsed to a dict (sources/exports/mapping.py documents its format).
    options: Mapping[str, Any] = field(default_factory=dict)
    # What the staging holds for the job: every staged `external_id`, and (`source_key` set)
    # the source keys remembered beside an older external_id. None: a fresh staging.
    staged: pa.Table | None = None


@dataclass(frozen=True)
class RowRejection:
    reason: str
    field: str
    message: str
    source_file: str
    source_row: int
    raw: Any  # the row's cells (a mapping), or the JSON value of a row that is not an object
    external_id: str | None = None


@dataclass
class MappedRows:
    records: pa.Table  # CANONICAL_SCHEMA without content_hash filled in
    rejections: list[RowRejection] = field(default_factory=list)
    read: int = 0
    folded: int = 0
    lookups: dict[str, pa.Table] = field(default_factory=dict)  # side tables to stage
    # external_id -> warnings of the row it was read from, added to its requests' warnings
    notes: dict[str, list[str]] = field(default_factory=dict)


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


def supersede(new: pa.Table | None, old: pa.Table | None, key: str) -> pa.Table | None:
    """Lookup rows: `new`, plus the `old` ones (cast to new's columns) for keys new lacks."""
    if old is None or old.num_rows == 0:
        return new
    if new is None:
        return old
    old = old.select(new.column_names).cast(new.schema)
    older = old.filter(pc.invert(pc.is_in(old[key], value_set=new[key].combine_chunks())))
    return pa.concat_tables([new, older])


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


# --- the steps every preset takes (reading, checking, folding, identifying) --------------------


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


Order = tuple[tuple[str, str], ...]


def fold(
    table: pa.Table, key: str, prefer: Order = (), fill: tuple[str, ...] = ()
) -> tuple[pa.Table, int]:
    """One row per `key`: the first by `prefer`, then by file and row. Columns in `fill` that
    are null on the kept row take a value (the least) from the rows folded into it (a recording
    found on another leg). Returns the kept rows in file/row order and how many were folded."""
    rows = (FILE_COL, "ascending"), (ROW_COL, "ascending")
    ordered = table.sort_by([(key, "ascending"), *prefer, *rows])
    kept = ordered.filter(first_per_key(ordered, key))
    if fill and kept.num_rows < table.num_rows:
        least = table.group_by(key).aggregate([(c, "min") for c in fill])
        at = pc.index_in(kept[key], value_set=least[key])  # no join: it refuses list columns
        for name in fill:
            value = pc.coalesce(kept[name], pc.take(least[f"{name}_min"], at))
            kept = kept.set_column(kept.schema.get_field_index(name), name, value)
    return kept.sort_by(list(rows)), table.num_rows - kept.num_rows


Prepare = Callable[[pa.Table, MapContext], tuple[pa.Table, list[RowRejection]]]


def map_prepared(
    files: list[SourceFile],
    context: MapContext,
    rejections: list[RowRejection],
    sources: Sequence[tuple[pa.Table | None, Prepare]],
    prefer: Order = (),
    fill: tuple[str, ...] = (),
) -> MappedRows:
    """The end of most presets' map_files: each source's rows (None when the files hold none)
    prepared by its function, then `finish`ed, with every row of `files` accounted for."""
    parts = []
    for rows, prepare in sources:
        if rows is not None:
            part, bad = prepare(rows, context)
            parts.append(part)
            rejections += bad
    lookups: dict[str, pa.Table] = {}
    records, folded = finish(parts, context, prefer, fill, lookups)
    return MappedRows(records, rejections, read=count_rows(files), folded=folded, lookups=lookups)


def finish(
    parts: list[pa.Table],
    context: MapContext,
    prefer: Order = (),
    fill: tuple[str, ...] = (),
    lookups: dict[str, pa.Table] | None = None,
) -> tuple[pa.Table, int]:
    """Prepared parts (canonical columns, `_id`, provenance, any `prefer` keys) -> one canonical
    table with duplicates of a source id folded (see `fold`), and the number folded. Records
    kept under an older external_id (resolve_keys) are added to `lookups` as `source_keys`."""
    if not parts:
        return assemble({}, 0), 0
    table = pa.concat_tables(parts, promote_options="permissive")
    table, folded = fold(table, "_id", prefer, fill)
    columns = {c: table[c] for c in table.column_names if c in CANONICAL_SCHEMA.names}
    # A call always has a direction, if only "unknown".
    direction = columns.get("direction", pa.nulls(table.num_rows, pa.string()))
    unknown = pc.and_(pc.equal(table["kind"], "call"), pc.is_null(direction))
    columns["direction"] = pc.if_else(unknown, "unknown", direction)
    external_id, ids, aliases = resolve_keys(table, context)
    if aliases is not None and aliases.num_rows and lookups is not None:
        lookups[KEYS_TABLE] = aliases
    columns.update(
        external_id=external_id,
        source_system=common.constant(context.source_system, table.num_rows),
        source_id=ids,
        source_file=table[FILE_COL],
        source_row=table[ROW_COL],
    )
    return assemble(columns, table.num_rows), folded


def resolve_keys(
    table: pa.Table, context: MapContext
) -> tuple[pa.ChunkedArray, pa.ChunkedArray, pa.Table | None]:
    """(external_id, source_id, aliases) per folded row. A keying change never re-keys what is
    staged: a key the staging remembers keeps its external_id; else the new rule's id when it is
    staged (or nothing is); else the old rule's (LEGACY_COL) when that one is staged. `aliases`
    are the rows kept under an id other than the new rule's: (source_key, external_id)."""
    new = pc.binary_join_element_wise(context.prefix, table["_id"], ":")
    staged = context.staged
    if staged is None or staged.num_rows == 0:
        return new, table["_id"], None
    staged = staged.select(["external_id", "source_key"]).cast(
        pa.schema([("external_id", pa.string()), ("source_key", pa.string())])
    )
    known = staged["external_id"].combine_chunks()
    remembered = staged.filter(pc.is_valid(staged["source_key"]))
    at = pc.index_in(table["_id"], value_set=remembered["source_key"].combine_chunks())
    kept = [pc.take(remembered["external_id"], at), pc.if_else(pc.is_in(new, known), new, None)]
    if LEGACY_COL in table.column_names:
        legacy = pc.binary_join_element_wise(context.prefix, table[LEGACY_COL], ":")
        kept.append(pc.if_else(pc.fill_null(pc.is_in(legacy, known), False), legacy, None))
    external = pc.coalesce(*kept, new)
    source_id = pc.utf8_slice_codeunits(external, len(context.prefix) + 1)
    moved = pc.fill_null(pc.not_equal(external, new), False)
    aliases = pa.table(
        {"source_key": table["_id"].filter(moved), "external_id": external.filter(moved)}
    )
    return external, source_id, aliases


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
