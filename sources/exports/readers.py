"""Export file bytes -> named collections of raw rows as all-string Arrow tables.

A collection is what one file holds of one kind: a vendor list page `{"calls": [...]}` gives
("calls", rows), a CSV or JSONL gives ("rows", rows). Values stay strings (nested values as JSON
text) so CSV and JSON exports of one system map through the same code. Pure: bytes in.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sources.errors import UnreadableFileError

LIST_KEYS = ("calls", "recordings", "meetings", "records", "data", "results")


@dataclass(frozen=True)
class Collection:
    name: str  # "calls", "recordings", … or "rows" when the file does not say
    rows: pa.Table  # all columns string


def read_collections(file_name: str, data: bytes) -> list[Collection]:
    """Every collection in one export file, by its extension (.csv .json .jsonl[.gz] .parquet)."""
    name = file_name.lower()
    try:
        if name.endswith(".gz"):
            data, name = gzip.decompress(data), name[:-3]
        if name.endswith(".csv"):
            return [Collection("rows", read_csv(data))]
        if name.endswith((".jsonl", ".ndjson")):
            return [Collection("rows", records_to_table(_jsonl(data)))]
        if name.endswith(".json"):
            return _json_document(orjson.loads(data))
        if name.endswith(".parquet"):
            return [Collection("rows", _stringify(pq.read_table(io.BytesIO(data))))]
    except (
        orjson.JSONDecodeError,
        pa.ArrowInvalid,
        UnicodeDecodeError,
        EOFError,
        gzip.BadGzipFile,
    ) as exc:
        raise UnreadableFileError(f"{file_name}: {exc}") from exc
    raise UnreadableFileError(f"{file_name}: unsupported file type (csv, json, jsonl, parquet)")


Opener = Callable[[], BinaryIO]
BLOCK_BYTES = 8 << 20


def read_csv(data: bytes) -> pa.Table:
    """A CSV as all-string columns; UTF-8 (BOM allowed), falling back to Windows-1252."""
    return pa.concat_tables(_csv_tables(lambda: io.BytesIO(data)))


def iter_csv(file_name: str, open_file: Opener) -> Iterator[pa.Table]:
    """The same as read_csv, as tables of a few MB each: the file is never whole in memory."""
    try:
        yield from _csv_tables(open_file)
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as exc:
        raise UnreadableFileError(f"{file_name}: {exc}") from exc


def _csv_tables(open_file: Opener) -> Iterator[pa.Table]:
    """At least one table (an empty one for a header-only file; no columns for an empty one)."""
    encoding, head = _encoding_and_head(open_file)
    names = next(csv.reader(io.StringIO(head)), [])
    if not names:
        yield pa.table({})
        return
    with open_file() as fh:
        reader = pacsv.open_csv(
            fh,
            read_options=pacsv.ReadOptions(encoding=encoding, block_size=BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
            ),
        )
        empty = True
        for batch in reader:
            empty = False
            yield pa.Table.from_batches([batch])
        if empty:
            yield reader.schema.empty_table()


def _encoding_and_head(open_file: Opener) -> tuple[str, str]:
    """utf8 when every byte of the file decodes as UTF-8 (one streaming pass, so a bad byte near
    the end still switches the whole file), else cp1252; and the file's first 64 KiB as text."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open_file() as fh:
        head = fh.read(1 << 16)
        try:
            decoder.decode(head)
            while chunk := fh.read(BLOCK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252", head.decode("cp1252", errors="replace")
    return "utf8", head.decode("utf-8-sig", errors="replace")


def _jsonl(data: bytes) -> list[Any]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


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
    """Row objects -> all-string table; a non-object row becomes a row with only `_raw` set."""
    names: dict[str, None] = {}
    rows: list[dict[str, str | None]] = []
    for record in records:
        if not isinstance(record, dict):
            record = {"_raw": record}
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
