"""Rewriting the staging file so that erased values leave its bytes (used by `purge`).

DuckDB marks the blocks of deleted or overwritten values free and reuses them later, but never
zeroes them: after UPDATE … SET x = NULL, CHECKPOINT and VACUUM the old values are still in the
file. A logical copy (COPY FROM DATABASE into a new file) holds only live rows; it replaces the
old file in one rename, so a crash leaves either the old file or the new one, never half.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from destinations.engagements.staging_db import opened
from pipelines import workspace
from sources.errors import StopRunError

COPY_ALIAS = "purge_copy"
PIPELINES = (workspace.STAGE_PIPELINE, "engagements_push_v1", "engagements_push_v2")


def rewrite(staging: Path) -> None:
    """Copy every schema, table, view and sequence into a fresh file and swap it in."""
    fresh = staging.resolve().with_name(f".{staging.name}.rewrite")
    for leftover in (fresh, _wal(fresh)):  # from a run killed during the copy
        leftover.unlink(missing_ok=True)
    with opened(staging) as con:
        [(source,)] = con.execute("SELECT current_database()").fetchall()
        con.execute(f"ATTACH '{_quoted(fresh)}' AS {COPY_ALIAS}")
        con.execute(f'COPY FROM DATABASE "{source}" TO {COPY_ALIAS}')
        con.execute(f"CHECKPOINT {COPY_ALIAS}")
        con.execute(f"DETACH {COPY_ALIAS}")
        con.execute("CHECKPOINT")
    for path in (_wal(fresh), _wal(staging)):
        if path.exists():  # a checkpointed, closed database leaves no WAL; never mix them up
            raise StopRunError(
                f"{path} is still there after a checkpoint; nothing was replaced: close any "
                "other DuckDB client of the staging and run purge again"
            )
    _fsync(fresh)
    os.replace(fresh, staging)
    _fsync(staging.resolve().parent)


def loaded_packages(staging: Path) -> list[Path]:
    """dlt's completed load packages (Parquet copies of every row it loaded) of this staging's
    pipelines; pending packages are not among them, so a crashed run still finishes its load."""
    root = Path(workspace.pipelines_dir(staging))
    found: list[Path] = []
    for name in PIPELINES:
        loaded = root / name / "load" / "loaded"
        found += sorted(loaded.iterdir()) if loaded.is_dir() else []
    return found


def drop_loaded_packages(staging: Path) -> int:
    """Delete the completed load packages (`loaded_packages`); how many."""
    packages = loaded_packages(staging)
    for package in packages:
        shutil.rmtree(package)
    return len(packages)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
