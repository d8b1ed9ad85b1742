"""What every preset's tests check and read the same way: sample files, records by id, and the
row accounting of DESIGN invariant 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sources.exports.canonical import MappedRows, SourceFile
from sources.exports.outputs import StageOutputs
from sources.exports.readers import read_collections


def sample_files(folder: Path, *names: str) -> list[SourceFile]:
    return [SourceFile(n, read_collections(n, (folder / n).read_bytes())) for n in names]


def by_id(result: MappedRows) -> dict[str, dict[str, Any]]:
    return {r["external_id"]: r for r in result.records.to_pylist()}


def accounted(out: StageOutputs) -> None:
    """DESIGN invariant 2: in = staged + folded + rejected, each rejection with a reason."""
    assert out.read == out.staged + out.folded + out.rejected
    rejected = out.tables["rejected_records"].to_pylist()
    assert sum(1 for r in rejected if r["target"] is None) == out.rejected
    assert all(r["reason"] and r["message"] for r in rejected)
