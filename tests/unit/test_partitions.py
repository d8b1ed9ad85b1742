"""Big jobs staged partition by partition say exactly what the whole job staged at once says."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.sample_data import CSV_COLUMNS, twilio_calls, write_twilio_sample
from sources.engagements.settings import BuildSettings
from sources.exports import partitions, screen
from sources.exports.collection import ROW_COL
from sources.exports.outputs import StageOutputs
from sources.exports.partitions import ExportFile
from sources.exports.readers import iter_csv, read_csv
from sources.exports.source import TABLE_KEYS, ExportJob, stage_files, stage_stream

SETTINGS = BuildSettings(source_system="twilio", allow_unassociated=True)
JOB = ExportJob(name="calls", preset="twilio", bucket_url="file:///x", file_glob="*", prefix="tw")


def export_files(folder: Path) -> list[ExportFile]:
    return [
        ExportFile(p.name, p.read_bytes, lambda p=p: open(p, "rb"), p.stat().st_size)
        for p in sorted(folder.iterdir())
    ]


class _DiskError(io.RawIOBase):
    """A file whose reads fail after its first 20,000 bytes (a disk or network error)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.at > 20_000:
            raise OSError("read error")
        n = min(len(buffer), 4_096, len(self.data) - self.at)
        buffer[:n] = self.data[self.at : self.at + n]
        self.at += n
        return n


def _failing_halfway(file: ExportFile) -> ExportFile:
    data = file.read_bytes()
    return ExportFile(
        file.path, file.read_bytes, lambda: io.BufferedReader(_DiskError(data)), len(data)
    )


def write_exports(folder: Path) -> Path:
    """The sample (JSON pages, a CSV, recordings, child legs, bad rows), a big CSV of more
    calls (child legs whose parents sit in other files), and rubbish."""
    write_twilio_sample(folder, n_calls=400, seed=3)
    exports = folder / "exports"
    rows = twilio_calls(1500, seed=11, rfc2822=False)
    with open(exports / "more_calls.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (exports / "contacts.csv").write_text("name,email\nAnn,ann@example.com\n")
    (exports / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (exports / "truncated.json").write_text('{"calls": [{"sid": "CA1"')
    return exports


def union(outputs: list[StageOutputs]) -> dict[str, list[dict]]:
    tables: dict[str, list[pa.Table]] = {}
    for out in outputs:
        for name, table in out.tables.items():
            tables.setdefault(name, []).append(table)
    merged = {}
    for name, parts in tables.items():
        key = TABLE_KEYS[name]
        keys = [key] if isinstance(key, str) else key
        rows = pa.concat_tables(parts).to_pylist()
        merged[name] = sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys))
    return merged


def totals(outputs: list[StageOutputs]) -> tuple:
    reasons: dict[str, int] = {}
    targets: dict[str, int] = {}
    for out in outputs:
        for k, v in out.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
        for k, v in out.target_rejected.items():
            targets[k] = targets.get(k, 0) + v
    fields = ("files", "read", "staged", "folded", "rejected")
    return tuple(sum(getattr(o, f) for o in outputs) for f in fields), reasons, targets


@pytest.mark.parametrize("partition_bytes", [4_000, 60_000])
def test_partitioned_stage_equals_the_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partition_bytes: int
) -> None:
    files = export_files(write_exports(tmp_path))
    whole = stage_files([(f.path, f.read_bytes) for f in files], JOB, SETTINGS)
    monkeypatch.setattr(partitions, "PARTITION_BYTES", partition_bytes)
    monkeypatch.setattr(screen, "BLOCK_BYTES", 16_384)  # many blocks per CSV
    assert partitions.partition_count(files) > 1
    parts = list(stage_stream(files, JOB, SETTINGS, {}, lambda: files))
    assert len(parts) == partitions.partition_count(files) + 1
    assert totals(parts) == totals([whole])
    assert whole.folded > 0 and whole.rejected > 0  # the data has what partitions must get right
    assert union(parts) == union([whole])
    whole_deleted = {k: sorted(v.to_pylist()) for k, v in whole.deleted.items()}
    for name, keys in whole_deleted.items():
        got = sorted(
            k for out in parts if name in out.deleted for k in out.deleted[name].to_pylist()
        )
        assert got == keys, name


def test_a_csv_unreadable_halfway_leaves_nothing_staged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports = write_exports(tmp_path)
    good = (exports / "more_calls.csv").read_text()
    (exports / "broken.csv").write_text(good)
    files = [_failing_halfway(f) if f.path == "broken.csv" else f for f in export_files(exports)]
    monkeypatch.setattr(partitions, "PARTITION_BYTES", 10_000)
    monkeypatch.setattr(screen, "BLOCK_BYTES", 16_384)
    parts = list(stage_stream(files, JOB, SETTINGS, {}, lambda: files))
    staged = union(parts)
    assert not any(r["source_file"] == "broken.csv" for r in staged["calls"])
    broken = [r for r in staged["rejected_records"] if r["source_file"] == "broken.csv"]
    assert [r["reason"] for r in broken] == ["unreadable_file"]
    (_, read, staged_n, folded, rejected), _, _ = totals(parts)
    assert read == staged_n + folded + rejected


@pytest.mark.parametrize(
    "data",
    [
        "sid,name\r\nCA1,Zoë\r\nCA2,Ann\r\n".encode(),
        b"\xef\xbb\xbfsid,name\nCA1,Zo\xc3\xab\n",
        ("sid,name\n" + "CA1,Ann\n" * 5000 + "CA2,Caf\xe9\n").encode("cp1252"),  # late bad byte
        b'"sid","name"\n"CA1","x, y"\n',
        b"",
    ],
)
def test_streamed_csv_reads_like_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    monkeypatch.setattr(screen, "BLOCK_BYTES", 4_096)
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    blocks = [c.rows for c in iter_csv("f.csv", lambda: path.open("rb"))]
    whole = read_csv(data)
    streamed = pa.concat_tables(blocks) if blocks else pa.table({})
    if ROW_COL in streamed.column_names:  # blocks number their rows; no row was lost here
        assert streamed[ROW_COL].to_pylist() == list(range(1, whole.num_rows + 1))
        streamed = streamed.drop_columns([ROW_COL])
    assert streamed.to_pylist() == whole.to_pylist()
