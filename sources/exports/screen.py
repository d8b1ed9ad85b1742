"""Rows a file holds that cannot be read are refused one by one, never the whole file.

A ragged CSV line (more or fewer cells than the header), a line of a UTF-8 file with bytes that
are not UTF-8, and a cell over FIELD_LIMIT_BYTES each become a LineProblem with the row's
number; the rest of the file is read. The rows that remain then carry ROW_COL, their true
numbers, so provenance stays right. Pure: bytes in (through an opener), tables out.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sources.exports.collection import (
    FIELD_LIMIT_BYTES,
    ROW_COL,
    SHOWN_BYTES,
    Collection,
    LineProblem,
)

BLOCK_BYTES = 8 << 20
# A bad byte in a UTF-8 file is read as this noncharacter (never in real text), so the parser
# sees valid UTF-8 everywhere and the rows holding it are refused afterwards (bad_encoding).
MARK = "\U0010fffe"


def _mark(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return MARK, exc.end


codecs.register_error("engagement-sync-mark", _mark)
Opener = Callable[[], BinaryIO]
# A valid multi-byte UTF-8 sequence: a file that has one is UTF-8 with a few bad bytes, not a
# Windows-1252 export (whose accented letters are single bytes).
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}")


def csv_blocks(open_file: Opener) -> Iterator[Collection]:
    """At least one block (an empty one for a header-only file; no columns for an empty one)."""
    encoding, head, mixed = _encoding_and_head(open_file)
    names = next(csv.reader(io.StringIO(head)), [])
    if not names:
        yield Collection("rows", pa.table({}))
        return
    skipped: list[LineProblem] = []

    def ragged(row: Any) -> str:
        skipped.append(
            LineProblem(
                row.number - 1,
                "ragged_line",
                "*",
                f"line {row.number}: {row.actual_columns} cells where the header has "
                f"{row.expected_columns}; the rest of the file is read",
                {"line": row.text[:SHOWN_BYTES].replace(MARK, "\ufffd")},
            )
        )
        return "skip"

    with open_file() as raw_fh:
        fh: Any = io.BufferedReader(_Marked(raw_fh)) if mixed else raw_fh
        reader = pacsv.open_csv(
            fh,
            read_options=pacsv.ReadOptions(
                encoding=encoding, block_size=BLOCK_BYTES, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=ragged),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
            ),
        )
        numbering = _Numbering()
        empty = True
        for batch in reader:
            empty = False
            problems, skipped[:] = list(skipped), []
            table = pa.Table.from_batches([batch])
            yield numbering.screen(table, problems)
        if empty:
            problems = list(skipped)
            yield numbering.screen(_strings(reader.schema.empty_table()), problems)


class _Numbering:
    """Data row numbers across the blocks of one file, around the rows the parser skipped.
    Blocks always carry ROW_COL (read_csv drops it again when the file lost no row)."""

    def __init__(self) -> None:
        self.next = 1
        self.skipped: set[int] = set()

    def screen(self, table: pa.Table, problems: list[LineProblem]) -> Collection:
        self.skipped |= {p.row for p in problems}
        if not self.skipped:
            numbers = pa.array(range(self.next, self.next + table.num_rows), pa.int64())
        else:
            found: list[int] = []
            n = self.next
            while len(found) < table.num_rows:
                if n not in self.skipped:
                    found.append(n)
                n += 1
            numbers = pa.array(found, pa.int64())
        if table.num_rows:
            self.next = numbers[-1].as_py() + 1
        table, bad = _decode(table, numbers)
        out = screened(Collection("rows", table[0], tuple(problems + bad)), table[1])
        return out


class _Marked(io.RawIOBase):
    """A UTF-8 stream with each invalid byte replaced by MARK (re-encoded as UTF-8)."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.decoder = codecs.getincrementaldecoder("utf-8")("engagement-sync-mark")
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            chunk = self.source.read(1 << 20)
            self.pending = self.decoder.decode(chunk, final=not chunk).encode()
            if not chunk:
                break
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def _decode(
    table: pa.Table, numbers: pa.Array
) -> tuple[tuple[pa.Table, pa.Array], list[LineProblem]]:
    """Rows holding MARK (a byte that is not UTF-8 in a UTF-8 file) refused, with the column."""
    bad = pa.array([False] * table.num_rows, pa.bool_())
    where: dict[int, str] = {}
    for name in table.column_names:
        marked = pc.fill_null(pc.match_substring(table[name], MARK), False)
        if pc.any(marked).as_py():
            for i in pc.indices_nonzero(marked).to_pylist():
                where.setdefault(i, name)
            bad = pc.or_(bad, marked)
    problems = []
    for i, name in sorted(where.items()):
        n = numbers[i].as_py()
        row = table.slice(i, 1).to_pylist()[0]
        problems.append(
            LineProblem(
                n,
                "bad_encoding",
                name,
                f"line {n + 1}: {name} holds bytes that are not UTF-8 in a UTF-8 file; "
                "the rest of the file is read",
                {k: _text(v).replace(MARK, "\ufffd") for k, v in row.items() if v is not None},
            )
        )
    keep = pc.invert(bad)
    return (table.filter(keep), numbers.filter(keep)), problems


def _strings(table: pa.Table) -> pa.Table:
    return table.cast(pa.schema([(n, pa.string()) for n in table.column_names]))


def _text(value: str) -> str:
    return value[:SHOWN_BYTES]


def screened(collection: Collection, numbers: pa.Array | None = None) -> Collection:
    """Rows with a cell over FIELD_LIMIT_BYTES refused (field_too_large, naming the column).
    `numbers` are the rows' true numbers when the reader already dropped some."""
    table = collection.rows
    if ROW_COL in table.column_names:
        numbers, table = table[ROW_COL].combine_chunks(), table.drop_columns([ROW_COL])
    big = pa.array([False] * table.num_rows, pa.bool_())
    for name in table.column_names:
        over = pc.fill_null(pc.greater(pc.binary_length(table[name]), FIELD_LIMIT_BYTES), False)
        big = pc.or_(big, over)
    if not pc.any(big).as_py():
        if numbers is not None:
            table = table.append_column(ROW_COL, numbers)
        return Collection(collection.name, table, collection.problems)
    if numbers is None:
        numbers = pa.array(range(1, table.num_rows + 1), pa.int64())
    problems = [_too_large(row, n) for row, n in _rows_where(table, numbers, big)]
    kept = table.filter(pc.invert(big)).append_column(ROW_COL, numbers.filter(pc.invert(big)))
    return Collection(collection.name, kept, collection.problems + tuple(problems))


def _rows_where(
    table: pa.Table, numbers: pa.Array, mask: pa.Array
) -> Iterator[tuple[dict[str, Any], int]]:
    # one refused row at a time, so a big cell is held once
    for i in pc.indices_nonzero(mask).to_pylist():
        yield table.slice(i, 1).to_pylist()[0], numbers[i].as_py()


def _too_large(row: dict[str, Any], n: int) -> LineProblem:
    sizes = {k: len(v.encode()) for k, v in row.items() if isinstance(v, str)}
    name = max(sizes, key=lambda k: sizes[k])
    raw = {
        k: (f"<{sizes[k]} bytes>" if sizes.get(k, 0) > SHOWN_BYTES else v)
        for k, v in row.items()
        if v is not None
    }
    return LineProblem(
        n,
        "field_too_large",
        name,
        f"row {n}: {name} holds {sizes[name]} bytes, over the {FIELD_LIMIT_BYTES >> 20} MiB "
        "limit for one cell (FIELD_LIMIT_BYTES)",
        raw,
    )


def _encoding_and_head(open_file: Opener) -> tuple[str, str, bool]:
    """utf8 when every byte of the file decodes as UTF-8 (one streaming pass); a file with bad
    bytes but also real UTF-8 sequences is UTF-8 with a few bad lines (`mixed`), others are
    cp1252; and the file's first 64 KiB as text."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8_seen = False
    with open_file() as fh:
        head = fh.read(1 << 16)
        chunk = head
        try:
            while chunk:
                utf8_seen = utf8_seen or bool(_UTF8_SEQUENCE.search(chunk))
                decoder.decode(chunk)
                chunk = fh.read(BLOCK_BYTES)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            while not utf8_seen and chunk:
                utf8_seen = bool(_UTF8_SEQUENCE.search(chunk))
                chunk = fh.read(BLOCK_BYTES)
            if utf8_seen:
                return "utf8", head.decode("utf-8-sig", errors="replace"), True
            return "cp1252", head.decode("cp1252", errors="replace"), False
    return "utf8", head.decode("utf-8-sig", errors="replace"), False
