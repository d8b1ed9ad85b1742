"""Export file bytes -> named collections of raw rows as all-string Arrow tables.

A collection is what one file holds of one kind: a vendor list page `{"calls": [...]}` gives
("calls", rows), a CSV or JSONL gives ("rows", rows). Values stay strings (nested values as JSON
text) so CSV and JSON exports of one system map through the same code. Pure: bytes in.
"""

from __future__ import annotations

import codecs
import gzip
import io
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from sources.errors import UnreadableFileError
from sources.exports.collection import ROW_COL, SHOWN_BYTES, Collection, LineProblem
from sources.exports.screen import BLOCK_BYTES, csv_blocks, screened

LIST_KEYS = ("calls", "recordings", "meetings", "records", "data", "results")


def read_collections(file_name: str, data: bytes) -> list[Collection]:
    """Every collection in one export file, by its extension (.csv .json .jsonl[.gz] .parquet)."""
    name = file_name.lower()
    try:
        if name.endswith(".gz"):
            data, name = gzip.decompress(data), name[:-3]
        if name.endswith(".csv"):
            return [_csv_collection(data)]
        if name.endswith((".jsonl", ".ndjson")):
            return [_jsonl(data.removeprefix(codecs.BOM_UTF8))]
        if name.endswith(".json"):
            return [
                screened(c)
                for c in _json_document(orjson.loads(data.removeprefix(codecs.BOM_UTF8)))
            ]
        if name.endswith(".parquet"):
            return [screened(Collection("rows", _stringify(pq.read_table(io.BytesIO(data)))))]
    except (
        orjson.JSONDecodeError,
        pa.ArrowInvalid,
        UnicodeDecodeError,
        EOFError,
        gzip.BadGzipFile,
    ) as exc:
        raise UnreadableFileError(f"{file_name}: {_why(exc)}") from exc
    raise UnreadableFileError(f"{file_name}: unsupported file type (csv, json, jsonl, parquet)")


Opener = Callable[[], BinaryIO]


def read_csv(data: bytes) -> pa.Table:
    """A CSV as all-string columns; UTF-8 (BOM allowed), falling back to Windows-1252."""
    return _csv_collection(data).rows


def _csv_collection(data: bytes) -> Collection:
    parts = list(csv_blocks(lambda: io.BytesIO(data)))
    problems = tuple(p for c in parts for p in c.problems)
    rows = pa.concat_tables([c.rows for c in parts])
    if not problems and ROW_COL in rows.column_names:
        rows = rows.drop_columns([ROW_COL])
    return Collection("rows", rows, problems)


def iter_csv(file_name: str, open_file: Opener) -> Iterator[Collection]:
    """The same as read_csv, in blocks of a few MB each: the file is never whole in memory."""
    try:
        yield from csv_blocks(open_file)
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as exc:
        raise UnreadableFileError(f"{file_name}: {_why(exc)}") from exc


def _why(exc: Exception) -> str:
    if "straddl" in str(exc):
        return (
            f"a CSV row is larger than {BLOCK_BYTES >> 20} MiB (BLOCK_BYTES), so the file "
            "cannot be split around it; cells over 2 MiB are refused anyway (field_too_large)"
        )
    return str(exc)


def _jsonl(data: bytes) -> Collection:
    """One row per non-empty line; a line that is not JSON is refused alone (unreadable_row)."""
    records: list[Any] = []
    problems: list[LineProblem] = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            n = len(records) + len(problems) + 1
            problems.append(
                LineProblem(n, "unreadable_row", "*", f"row {n}: not JSON ({exc})", _shown(line))
            )
    collection = Collection("rows", records_to_table(records))
    if problems:
        bad = {p.row for p in problems}
        numbers = [n for n in range(1, len(records) + len(bad) + 1) if n not in bad]
        table = collection.rows.append_column(ROW_COL, pa.array(numbers, pa.int64()))
        collection = Collection("rows", table, tuple(problems))
    return screened(collection)


def _json_document(doc: Any) -> list[Collection]:
    if isinstance(doc, list):
        return [Collection("rows", records_to_table(doc))]
    if isinstance(doc, dict):
        found = [
            Collection(k, records_to_table(doc[k]))
            for k in LIST_KEYS
            if isinstance(doc.get(k), list)
        ]
        return found or [Collection("rows", records_to_table([doc]))]
    raise UnreadableFileError("a JSON export must be an object or a list of objects")


def records_to_table(records: list[Any]) -> pa.Table:
    """Row objects -> all-string table; a non-object row (5, null, [1,2]) becomes a row with only
    `_raw` set to its JSON text."""
    names: dict[str, None] = {}
    rows: list[dict[str, str | None]] = []
    for record in records:
        if not isinstance(record, dict):  # its JSON text, so rejected_records.raw keeps it
            record = {"_raw": orjson.dumps(record, default=str).decode()}
        row = {str(k): _text(v) for k, v in record.items()}
        names.update(dict.fromkeys(row))
        rows.append(row)
    return pa.table({n: pa.array([r.get(n) for r in rows], pa.string()) for n in names})


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return orjson.dumps(value, default=str).decode()


def _stringify(table: pa.Table) -> pa.Table:
    return records_to_table(table.to_pylist())


def _shown(value: bytes) -> str:
    return value[:SHOWN_BYTES].decode("utf-8", errors="replace")
