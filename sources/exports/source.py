"""The dlt source over one job's export files: list (incrementally), read, map, build, stage.

IO edge: lists files through dlt's filesystem source (local folders, s3://, gs://, az://),
reads their bytes and hands them to the pure mapping and builder code. Each staged table is
merged on its key, so re-reading a modified file updates its records instead of duplicating.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.storages.fsspec_filesystem import FileItem, FileItemDict
from dlt.sources.filesystem import filesystem
from fsspec.implementations.local import LocalFileSystem

from sources.engagements.settings import BuildSettings
from sources.exports.canonical import (
    KEYS_TABLE,
    MapContext,
    RowRejection,
    SourceFile,
    line_rejections,
    supersede,
    unreadable_file,
)
from sources.exports.outputs import DELETED, StageOutputs, build_outputs, with_tombstones
from sources.exports.partitions import ExportFile, ReadProgress, Spill, partition_count
from sources.exports.presets import get_preset
from sources.exports.readers import Collection, UnreadableFileError, read_collections
from sources.exports.walk import Skipped, local_root, walk

log = logging.getLogger(__name__)

TABLE_KEYS: dict[str, str | list[str]] = {
    "calls": "external_id",
    "meetings": "external_id",
    "v1_requests": "external_id",
    "v2_requests": "external_id",
    "rejected_records": "rejection_id",
    "recordings": ["job", "call_sid"],
    KEYS_TABLE: ["job", "source_key"],  # a source key kept under an older external_id
}
SIDE_TABLES = ("recordings",)  # what presets may stage for joins in later runs
HARD_DELETE = {DELETED: {"data_type": "bool", "hard_delete": True}}


def key_of(table_name: str) -> str:
    """The column that identifies a row within a job (the last of a composite key)."""
    key = TABLE_KEYS[table_name]
    return key if isinstance(key, str) else key[-1]


@dataclass(frozen=True)
class ExportJob:
    """What the source needs to know of a job (pipelines/jobs.py builds it from config/flags)."""

    name: str
    preset: str
    bucket_url: str
    file_glob: str
    prefix: str
    default_region: str | None = None
    incremental: bool = True
    targets: tuple[str, ...] = ("v1", "v2")
    options: dict[str, Any] = field(default_factory=dict)  # preset options (generic: mapping)
    follow_symlinks: bool = False  # local folders: follow links that stay inside the folder
    # What the staging holds for the job (MapContext.staged): its records' external ids and the
    # source keys remembered beside them, so a keying change never re-keys a staged record.
    staged_keys: pa.Table | None = field(default=None, compare=False, repr=False)


@dataclass
class StageTally:
    """Counts from one job's extraction, filled in while dlt runs the source."""

    files: int = 0
    read: int = 0
    staged: int = 0
    folded: int = 0
    rejected: int = 0
    target_rejected: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # entries not read -> why
    paths: set[str] = field(default_factory=set)  # files read: their old rejections are stale
    progress: ReadProgress | None = field(default=None, compare=False, repr=False)

    def skip(self, job: str, entries: list[Skipped]) -> None:
        """Each skipped entry once (the folder may be listed twice in a run), with a warning."""
        for entry in entries:
            if entry.path not in self.skipped:
                self.skipped[entry.path] = entry.why
                log.warning("job %s: skipped %s: %s", job, entry.path, entry.why)

    def add(self, out: StageOutputs) -> None:
        self.files += out.files
        self.read += out.read
        self.staged += out.staged
        self.folded += out.folded
        self.rejected += out.rejected
        for target, n in out.target_rejected.items():
            self.target_rejected[target] = self.target_rejected.get(target, 0) + n
        for reason, n in out.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n


@dlt.source(name="exports", max_table_nesting=0)
def exports(
    job: ExportJob,
    settings: BuildSettings,
    tally: StageTally,
    known: dict[str, pa.Table] | None = None,
) -> Any:
    """One job's files -> calls, meetings, rejected_records, v1_requests, v2_requests.

    `known` holds the side tables staged by earlier runs of the job (see SIDE_TABLES).
    """
    files = _listing(job, tally).with_name(f"{job.name}_files")
    if job.incremental:
        files.apply_hints(incremental=dlt.sources.incremental("modification_date"))

    @dlt.transformer(name=f"{job.name}_records")
    def records(items: list[Any]) -> Iterator[Any]:
        listed = [_export_file(item) for item in items]
        tally.paths.update(f.path for f in listed)
        if tally.progress is not None:
            tally.progress.begin(len(listed), sum(f.size for f in listed))
        every = lambda: _every_file(job, tally)  # noqa: E731
        for out in stage_stream(listed, job, settings, known or {}, every, tally.progress):
            tally.add(out)
            yield from _hinted(out, job)

    return files | records


def _hinted(out: StageOutputs, job: ExportJob) -> Iterator[Any]:
    """Each staged table of `out` with its merge hints, stale keys flagged for deletion."""
    for table_name in dict.fromkeys([*out.tables, *out.deleted]):
        table = out.tables.get(table_name, pa.table({}))
        deleted = out.deleted.get(table_name)
        if deleted is not None:
            keys = {key_of(table_name): deleted}
            if "job" in TABLE_KEYS[table_name]:
                keys["job"] = pa.array([job.name] * len(deleted), pa.string())
            table = with_tombstones(table, keys)
        if table.num_rows:
            yield dlt.mark.with_hints(
                _keys_required(table, TABLE_KEYS[table_name]),
                dlt.mark.make_hints(
                    table_name=table_name,
                    # one row per key in a load (presets fold, builders key by record, and
                    # a key's rows all land in one partition)
                    write_disposition={
                        "disposition": "merge",
                        "strategy": "delete-insert",
                        "deduplicated": True,
                    },
                    primary_key=TABLE_KEYS[table_name],
                    columns=HARD_DELETE if deleted is not None else None,  # type: ignore[arg-type]
                ),
                create_table_variant=True,
            )


def _keys_required(table: pa.Table, keys: str | list[str]) -> pa.Table:
    """Key columns marked non-nullable, as dlt's primary_key hint makes them (else dlt warns
    about every table that the Arrow schema and its own differ)."""
    schema = table.schema
    for name in [keys] if isinstance(keys, str) else keys:
        index = schema.get_field_index(name)
        schema = schema.set(index, schema.field(index).with_nullable(False))
    return table.cast(schema)


FileList = list[tuple[str, Callable[[], bytes]]]


def _export_file(item: Any) -> ExportFile:
    return ExportFile(item["relative_path"], item.read_bytes, item.open, item["size_in_bytes"])


def _listing(job: ExportJob, tally: StageTally) -> Any:
    """The job's files as a dlt resource: a local folder walked safely (walk.py), a bucket
    through dlt's filesystem source. One page per run: folding and the deduplicated merge
    need every new file together."""
    root = local_root(job.bucket_url)
    if root is None:
        return filesystem(
            bucket_url=job.bucket_url, file_glob=job.file_glob, files_per_page=1_000_000_000
        )

    @dlt.resource(name="local_files")
    def local_files() -> Iterator[list[FileItemDict]]:
        yield _local_items(job, root, tally)

    return local_files()


def _local_items(job: ExportJob, root: Path, tally: StageTally) -> list[FileItemDict]:
    listing = walk(root, job.file_glob, job.follow_symlinks)
    tally.skip(job.name, listing.skipped)
    fs = LocalFileSystem()
    items = []
    for relative, path in listing.files:
        info = path.stat()
        item = FileItem(
            file_name=path.name,
            relative_path=relative,
            file_url=path.absolute().as_uri(),
            mime_type=mimetypes.guess_type(relative)[0] or "application/octet-stream",
            modification_date=datetime.fromtimestamp(info.st_mtime, UTC),
            size_in_bytes=info.st_size,
        )
        items.append(FileItemDict(item, fs))
    return items


def _every_file(job: ExportJob, tally: StageTally) -> list[ExportFile]:
    """Every file of the job, whatever the incremental state says."""
    root = local_root(job.bucket_url)
    if root is not None:
        return [_export_file(item) for item in _local_items(job, root, tally)]
    listing = filesystem(bucket_url=job.bucket_url, file_glob=job.file_glob)
    return [_export_file(item) for item in listing]


def stage_stream(
    files: list[ExportFile],
    job: ExportJob,
    settings: BuildSettings,
    known: dict[str, pa.Table],
    every_file: Callable[[], list[ExportFile]],
    progress: ReadProgress | None = None,
) -> Iterator[StageOutputs]:
    """stage_files for any size: a job with more input than one partition (partitions.py) whose
    preset can partition is read as a stream and staged partition by partition."""
    preset = get_preset(job.preset)
    count = partition_count(files)
    if count == 1 or not preset.partition_keys:
        listed = [(f.path, f.read_bytes) for f in files]
        every = lambda: [(f.path, f.read_bytes) for f in every_file()]  # noqa: E731
        yield stage_files(listed, job, settings, known, every, progress)
        return
    with Spill(
        count, preset.partition_keys, preset.side_collections, preset.name_collections, progress
    ) as spill:
        spill.add(files)
        whole = bool(spill.arrived & set(preset.reread_all_on))
        if whole:
            done = {f.path for f in files}
            spill.add([f for f in every_file() if f.path not in done])
        earlier = {} if whole else known

        def context(side: dict[str, pa.Table]) -> MapContext:
            return MapContext(
                job.prefix,
                settings.source_system,
                job.default_region,
                _supersede(side, earlier),
                job.options,
                job.staged_keys,
            )

        # What is not partitioned (rows of no known shape) and the unreadable files: one
        # output; then one per partition, each with its share of this run's side tables.
        mapped = preset.map_files(spill.whole(), context({}))
        mapped.rejections.extend(spill.unreadable)
        mapped.read += len(spill.unreadable)
        mapped.lookups = _kept_keys(mapped.lookups)
        out = build_outputs(mapped, settings, job.name, job.targets)
        out.files = len(spill.files) + len(spill.unreadable)
        if whole:
            now = {n: pa.table({key_of(n): spill.side_keys(n)}) for n in known}
            out.deleted.update(_gone_side_rows(known, now))
        yield out
        for p, sources in enumerate(spill.partitions()):
            mapped = preset.map_files(sources, context(spill.side_for(sources)))
            mapped.lookups = {**_kept_keys(mapped.lookups), **spill.side_bucket(p)}
            yield build_outputs(mapped, settings, job.name, job.targets)


def _kept_keys(lookups: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """Of a partition's lookups, the source keys kept under older ids (not a side table: every
    partition stages its own)."""
    return {n: t for n, t in lookups.items() if n == KEYS_TABLE}


def _supersede(new: dict[str, pa.Table], known: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """This run's side rows, plus the staged ones for keys this run has none of."""
    merged = {n: supersede(new.get(n), known.get(n), key_of(n)) for n in [*new, *known]}
    return {name: table for name, table in merged.items() if table is not None}


def stage_files(
    files: FileList,
    job: ExportJob,
    settings: BuildSettings,
    known: dict[str, pa.Table] | None = None,
    every_file: Callable[[], FileList] | None = None,
    progress: ReadProgress | None = None,
) -> StageOutputs:
    """Read (path, read_bytes) pairs, map them with the job's preset and build the outputs.

    When the preset says a new collection changes records in other files (Twilio recordings),
    `every_file` lists the job's whole folder and all of it is read again.
    """
    preset = get_preset(job.preset)
    sources, unreadable = _read(files, progress)
    preset.name_collections(sources)
    arrived = {c.name for f in sources for c in f.collections}
    whole = every_file is not None and bool(arrived & set(preset.reread_all_on))
    if whole and every_file is not None:
        done = {path for path, _ in files}
        more, more_bad = _read([(p, r) for p, r in every_file() if p not in done], progress)
        preset.name_collections(more)
        sources, unreadable = sources + more, unreadable + more_bad
    # Every file read: what earlier runs staged on the side is superseded, not joined.
    context = MapContext(
        job.prefix,
        settings.source_system,
        job.default_region,
        {} if whole else known or {},
        job.options,
        job.staged_keys,
    )
    mapped = preset.map_files(sources, context)
    mapped.rejections.extend(unreadable)
    mapped.read += len(unreadable)
    out = build_outputs(mapped, settings, job.name, job.targets)
    out.files = len(sources) + len(unreadable)
    if whole:
        out.deleted.update(_gone_side_rows(known or {}, mapped.lookups))
    return out


def _gone_side_rows(known: dict[str, pa.Table], new: dict[str, pa.Table]) -> dict[str, pa.Array]:
    """Side-table keys staged before that the complete set of files no longer has."""
    gone = {}
    for name, table in known.items():
        key = key_of(name)
        old = table[key].combine_chunks() if table.num_rows else pa.array([], pa.string())
        current = new[name][key] if name in new else pa.chunked_array([], pa.string())
        gone[name] = old.filter(pc.invert(pc.is_in(old, value_set=current.combine_chunks())))
    return gone


def _read(
    files: FileList, progress: ReadProgress | None = None
) -> tuple[list[SourceFile], list[RowRejection]]:
    sources: list[SourceFile] = []
    unreadable: list[RowRejection] = []
    for path, read_bytes in files:
        data = read_bytes()
        try:
            collections = read_collections(path, data)
        except UnreadableFileError as exc:
            unreadable.append(unreadable_file(path, exc))
            continue
        finally:
            if progress is not None:  # rows counted per file, by Arrow
                progress.read(0, len(data), files=1)
        if progress is not None:
            progress.read(sum(c.rows.num_rows for c in collections), 0)
        unreadable += line_rejections(path, collections)  # rows refused alone, counted as read
        sources.append(SourceFile(path, [Collection(c.name, c.rows) for c in collections]))
    return sources, unreadable
