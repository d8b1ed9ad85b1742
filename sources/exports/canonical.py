"""The steps every preset takes, in one place: folding duplicates of a source id, keying records
(external_id), superseding staged side tables, rejecting collections a preset does not read,
and finishing prepared parts into one canonical table. Presets (Twilio included) import them from
here; so do partitions.py and source.py.

Pure (pyarrow only). Reading rows with provenance lives in rows.py, assembling canonical columns
in columns.py; both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sources.engagements.model import CANONICAL_SCHEMA, external_ids, source_ids_of
from sources.exports import common
from sources.exports.collection import ROW_COL, Collection
from sources.exports.columns import (
    assemble,
    participant_lists,
    phone_participants,
    prepared,
)
from sources.exports.rows import (
    FILE_COL,
    RowRejection,
    SourceFile,
    count_rows,
    line_rejections,
    name_by,
    reject,
    reject_other_collections,
    require_id_and_start,
    unreadable_file,
    with_provenance,
)

# A preset whose keying rule changed gives each row's id under the old rule here: a record
# staged under it keeps its external_id (resolve_keys).
LEGACY_COL = "_legacy_id"


KEYS_TABLE = "source_keys"  # staged: (job, source_key) -> the external_id it is staged under


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


@dataclass
class MappedRows:
    records: pa.Table  # CANONICAL_SCHEMA without content_hash filled in
    rejections: list[RowRejection] = field(default_factory=list)
    read: int = 0
    folded: int = 0
    lookups: dict[str, pa.Table] = field(default_factory=dict)  # side tables to stage
    # external_id -> warnings of the row it was read from, added to its requests' warnings
    notes: dict[str, list[str]] = field(default_factory=dict)


KeyFunction = Callable[[pa.Table], pa.ChunkedArray | pa.Array]


@dataclass(frozen=True)
class SideCollection:
    """How a preset turns a side collection (rows that only feed a lookup, e.g. Twilio
    recordings) into a lookup; partitions.py streams big ones through it."""

    reduce: Callable[[pa.Table], pa.Table]  # a block of raw rows -> lookup rows
    combine: Callable[[pa.Table], pa.Table]  # lookup rows from any blocks -> one row per key
    key: str  # the lookup's key column
    wanted: KeyFunction  # raw rows of a partitioned collection -> the keys they look up


def supersede(
    new: pa.Table | None, old: pa.Table | None, key: str, schema: pa.Schema | None = None
) -> pa.Table | None:
    """Lookup rows: `new`, plus the `old` ones (cast to new's columns, or to `schema` when
    given) for keys new lacks."""
    if old is not None and schema is not None and old.num_rows:
        old = old.select(schema.names).cast(schema)
    if old is None or old.num_rows == 0:
        return new
    if new is None:
        return old
    old = old.select(new.column_names).cast(new.schema)
    older = old.filter(pc.invert(pc.is_in(old[key], value_set=new[key].combine_chunks())))
    return pa.concat_tables([new, older])


def first_per_key(table: pa.Table, key: str) -> pa.Array:
    """Boolean mask: True for the first row of each run of equal `key` values (sort first)."""
    keys = table.column(key).combine_chunks()
    if len(keys) == 0:
        return pa.array([], pa.bool_())
    previous = pa.concat_arrays([pa.array([None], keys.type), keys.slice(0, len(keys) - 1)])
    return pc.fill_null(pc.not_equal(keys, previous), True)


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
    table with duplicates of a source id folded (see `fold`), and the number folded."""
    if not parts:
        return assemble({}, 0), 0
    table = pa.concat_tables(parts, promote_options="permissive")
    table, folded = fold(table, "_id", prefer, fill)
    return to_canonical(table, context, lookups), folded


def to_canonical(
    table: pa.Table, context: MapContext, lookups: dict[str, pa.Table] | None = None
) -> pa.Table:
    """Folded rows (one per `_id`; canonical columns and provenance) -> the canonical table,
    keyed by resolve_keys. Records kept under an older external_id are added to `lookups` as
    `source_keys`."""
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
    return assemble(columns, table.num_rows)


def resolve_keys(
    table: pa.Table, context: MapContext
) -> tuple[pa.ChunkedArray, pa.ChunkedArray, pa.Table | None]:
    """(external_id, source_id, aliases) per folded row. A keying change never re-keys what is
    staged: a key the staging remembers keeps its external_id; else the new rule's id when it is
    staged (or nothing is); else the old rule's (LEGACY_COL) when that one is staged. `aliases`
    are the rows kept under an id other than the new rule's: (source_key, external_id)."""
    new = external_ids(context.prefix, table["_id"])
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
        legacy = external_ids(context.prefix, table[LEGACY_COL])
        kept.append(pc.if_else(pc.fill_null(pc.is_in(legacy, known), False), legacy, None))
    external = pc.coalesce(*kept, new)
    source_id = source_ids_of(context.prefix, external)
    moved = pc.fill_null(pc.not_equal(external, new), False)
    aliases = pa.table(
        {"source_key": table["_id"].filter(moved), "external_id": external.filter(moved)}
    )
    return external, source_id, aliases


__all__ = [
    "FILE_COL",
    "KEYS_TABLE",
    "LEGACY_COL",
    "ROW_COL",
    "Collection",
    "KeyFunction",
    "MapContext",
    "MappedRows",
    "Order",
    "Prepare",
    "RowRejection",
    "SideCollection",
    "SourceFile",
    "assemble",
    "count_rows",
    "finish",
    "first_per_key",
    "fold",
    "line_rejections",
    "map_prepared",
    "name_by",
    "participant_lists",
    "phone_participants",
    "prepared",
    "reject",
    "reject_other_collections",
    "require_id_and_start",
    "resolve_keys",
    "supersede",
    "to_canonical",
    "unreadable_file",
    "with_provenance",
]
