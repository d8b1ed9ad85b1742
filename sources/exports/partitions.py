"""Big exports in pieces: rows spread over partitions by the key that folding groups by, so each
partition is mapped, built and loaded on its own and memory stays flat however big the export.

A preset opts in with two module attributes:
- `PARTITION_KEYS`: collection name -> function(raw rows) -> the key its folding groups by
  (Twilio calls: the root leg's sid). Rows sharing a key always land in the same partition, so
  folding inside a partition is folding over the whole export.
- `SIDE_COLLECTIONS`: collection name -> SideCollection, for collections that only feed a
  lookup and are not counted as records (Twilio recordings -> call_sid, recording_url). Their
  blocks are reduced as they stream by and kept in a DuckDB file, not in memory: each partition
  gets the lookup rows for the keys its rows want, and stages one bucket of them.
Every other collection (say, rows of an unknown shape) is kept whole and mapped once.

IO: the parts are Arrow IPC files in a temporary folder, one per file, collection and partition,
next to the DuckDB file of the side collections.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from sources.exports.canonical import (
    FILE_COL,
    ROW_COL,
    KeyFunction,
    RowRejection,
    SideCollection,
    SourceFile,
    line_rejections,
    unreadable_file,
)
from sources.exports.readers import (
    BLOCK_BYTES,
    Collection,
    Opener,
    UnreadableFileError,
    iter_csv,
    read_collections,
)

# Input bytes per partition. A partition of this much CSV maps and builds in a few hundred MB;
# smaller jobs (one partition) take the plain whole-job path.
PARTITION_BYTES = 16 << 20

SIDE_MEMORY = "256MB"  # what the side collections' DuckDB may hold in memory before spilling


class ReadProgress(Protocol):
    """Told as files are read (pipelines/stage_progress.py shows it): rows and bytes so far."""

    def begin(self, files: int, nbytes: int) -> None: ...

    def read(self, rows: int, nbytes: int, files: int = 0) -> None: ...


@dataclass(frozen=True)
class ExportFile:
    """One listed export file: where it is, and how to read it whole or as a stream."""

    path: str
    read_bytes: Callable[[], bytes]
    open: Opener | None = None
    size: int = 0


def partition_count(files: list[ExportFile]) -> int:
    return max(1, math.ceil(sum(f.size for f in files) / PARTITION_BYTES))


def blocks(
    file: ExportFile, name_collections: Callable[[list[SourceFile]], None]
) -> Iterator[Collection]:
    """The file's collections, CSVs in blocks of a few MB, each named the preset's way."""
    if file.path.lower().endswith(".csv") and file.open is not None:
        found: Iterator[Collection] = iter_csv(file.path, file.open)
    else:
        found = iter(read_collections(file.path, file.read_bytes()))
    for collection in found:
        named = [SourceFile(file.path, [Collection(collection.name, collection.rows)])]
        name_collections(named)
        yield Collection(
            named[0].collections[0].name, named[0].collections[0].rows, collection.problems
        )


@dataclass
class _FileParts:
    path: str
    parts: dict[tuple[str, int], pa.ipc.RecordBatchFileWriter] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # running row number per collection
    whole: list[Collection] = field(default_factory=list)


class Spill:
    """Routes each block of each file: partitioned collections to their parts on disk, side
    collections through their reducer, the rest kept whole. A file that turns out unreadable
    halfway leaves nothing behind (its parts are dropped)."""

    def __init__(
        self,
        count: int,
        keys: dict[str, KeyFunction],
        sides: dict[str, SideCollection],
        name_collections: Callable[[list[SourceFile]], None],
        progress: ReadProgress | None = None,
    ) -> None:
        self.count = count
        self.progress = progress
        self.keys = keys
        self.sides = sides
        self.name_collections = name_collections
        self._tmp = tempfile.TemporaryDirectory(prefix="engagement-sync-")
        self._con = duckdb.connect(
            str(Path(self._tmp.name) / "side.duckdb"), config={"memory_limit": SIDE_MEMORY}
        )
        self._side_tables: set[str] = set()
        self.files: list[_FileParts] = []
        self.unreadable: list[RowRejection] = []
        self.arrived: set[str] = set()

    def add(self, files: list[ExportFile]) -> None:
        for file in files:
            parts = _FileParts(file.path)
            refused = []
            counted = 0  # bytes told so far: a CSV block is about BLOCK_BYTES of the file
            try:
                for collection in blocks(file, self.name_collections):
                    refused += line_rejections(file.path, [collection])
                    self._route(len(self.files), parts, collection)
                    if self.progress is not None:
                        step = max(0, min(BLOCK_BYTES, file.size - counted))
                        self.progress.read(collection.rows.num_rows, step)
                        counted += step
            except UnreadableFileError as exc:
                self._close(parts, delete=True)
                for name in self._side_tables:
                    self._con.execute(f"DELETE FROM side_{name} WHERE _file = ?", [len(self.files)])
                self.unreadable.append(unreadable_file(file.path, exc))
                continue
            self._close(parts)
            self.files.append(parts)
            if self.progress is not None:
                self.progress.read(0, max(0, file.size - counted), files=1)
            self.unreadable += refused  # rows refused alone: counted as read, like files

    def side_for(self, sources: list[SourceFile]) -> dict[str, pa.Table]:
        """The lookup rows the rows of `sources` (a partition) want, one per key."""
        out = {}
        for name in self._side_tables:
            side = self.sides[name]
            wanted = [
                side.wanted(c.rows) for s in sources for c in s.collections if c.name in self.keys
            ]
            keys = pa.chunked_array(
                [chunk for w in wanted for chunk in _chunks(w)], pa.string()
            ).unique()
            self._con.register("wanted", pa.table({"k": keys}))
            rows = self._con.execute(
                f"SELECT * EXCLUDE (_file) FROM side_{name} "
                f"WHERE {side.key} IN (SELECT k FROM wanted)"
            ).to_arrow_table()
            self._con.unregister("wanted")
            out[name] = side.combine(rows)
        return out

    def side_bucket(self, p: int) -> dict[str, pa.Table]:
        """Partition p's share of every lookup (by the hash of its key), one row per key."""
        out = {}
        for name in self._side_tables:
            side = self.sides[name]
            rows = self._con.execute(
                f"SELECT * EXCLUDE (_file) FROM side_{name} "
                f"WHERE hash({side.key}) % {self.count} = {p}"
            ).to_arrow_table()
            out[name] = side.combine(rows)
        return out

    def side_keys(self, name: str) -> pa.Array:
        if name not in self._side_tables:
            return pa.array([], pa.string())
        key = self.sides[name].key
        keys = self._con.execute(f"SELECT DISTINCT {key} FROM side_{name}").to_arrow_table()
        return keys.column(0).combine_chunks()

    def whole(self) -> list[SourceFile]:
        return [SourceFile(f.path, f.whole) for f in self.files if f.whole]

    def partitions(self) -> Iterator[list[SourceFile]]:
        """Each partition's rows, per file and collection, with their original file and row."""
        for p in range(self.count):
            sources = []
            for index, parts in enumerate(self.files):
                collections = [
                    Collection(name, self._read(index, name, p))
                    for name, q in parts.parts
                    if q == p
                ]
                if collections:
                    sources.append(SourceFile(parts.path, collections))
            yield sources

    def close(self) -> None:
        self._con.close()
        self._tmp.cleanup()

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _route(self, index: int, parts: _FileParts, collection: Collection) -> None:
        name, rows = collection.name, collection.rows
        self.arrived.add(name)
        if name in self.sides:
            reduced = self.sides[name].reduce(rows)
            block = reduced.append_column("_file", pa.array([index] * reduced.num_rows, pa.int64()))
            self._con.register("block", block)
            if name in self._side_tables:
                self._con.execute(f"INSERT INTO side_{name} SELECT * FROM block")
            else:
                self._con.execute(f"CREATE TABLE side_{name} AS SELECT * FROM block")
                self._side_tables.add(name)
            self._con.unregister("block")
        elif name in self.keys and rows.num_rows:
            first = parts.rows.get(name, 0) + 1
            parts.rows[name] = first + rows.num_rows - 1
            if ROW_COL not in rows.column_names:  # a CSV block numbers its rows itself
                numbers = pa.array(range(first, first + rows.num_rows), pa.int64())
                rows = rows.append_column(ROW_COL, numbers)
            rows = rows.append_column(FILE_COL, pa.array([parts.path] * rows.num_rows))
            self._spill(index, parts, name, rows)
        elif name not in self.keys:
            parts.whole.append(collection)

    def _spill(self, index: int, parts: _FileParts, name: str, rows: pa.Table) -> None:
        key = self.keys[name](rows)
        self._con.register("block_keys", pa.table({"k": key}))
        sql = f"SELECT (hash(k) % {self.count})::INTEGER AS p FROM block_keys"
        pid = self._con.execute(sql).to_arrow_table().column("p")
        self._con.unregister("block_keys")
        for p in pc.unique(pid).to_pylist():
            piece = rows.filter(pc.equal(pid, p))
            writer = parts.parts.get((name, p))
            if writer is None:
                writer = pa.ipc.new_file(self._path(index, name, p), piece.schema)
                parts.parts[(name, p)] = writer
            writer.write_table(piece)

    def _path(self, index: int, name: str, p: int) -> str:
        return str(Path(self._tmp.name) / f"{index}-{name}-{p}.arrow")

    def _read(self, index: int, name: str, p: int) -> pa.Table:
        with pa.OSFile(self._path(index, name, p)) as source:
            return pa.ipc.open_file(source).read_all()

    def _close(self, parts: _FileParts, delete: bool = False) -> None:
        for (name, p), writer in parts.parts.items():
            writer.close()
            if delete:
                Path(self._path(len(self.files), name, p)).unlink(missing_ok=True)
        if delete:
            parts.parts.clear()


def _chunks(values: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    return values.chunks if isinstance(values, pa.ChunkedArray) else [values]
