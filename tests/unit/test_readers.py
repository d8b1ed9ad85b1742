"""read_collections: export file bytes -> named collections of all-string rows."""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sources.exports.readers import Collection, UnreadableFileError, read_collections


def rows(collections: list[Collection]) -> list[tuple[str, list[dict[str, str | None]]]]:
    return [(c.name, c.rows.to_pylist()) for c in collections]


def all_string(collections: list[Collection]) -> bool:
    return all(pa.types.is_string(f.type) for c in collections for f in c.rows.schema)


def parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        pytest.param(
            "calls.csv",
            b"sid,from\nCA1,+14155552671\n",
            [("rows", [{"sid": "CA1", "from": "+14155552671"}])],
            id="csv",
        ),
        pytest.param(
            "calls.csv",
            "\ufeffsid,from\r\nCA1,+14155552671\r\n".encode(),
            [("rows", [{"sid": "CA1", "from": "+14155552671"}])],
            id="csv-utf8-bom",
        ),
        pytest.param(
            "calls.csv",
            b'"sid","note","n"\n"CA1","a,b ""q""\nline 2","7"\n',
            [("rows", [{"sid": "CA1", "note": 'a,b "q"\nline 2', "n": "7"}])],
            id="csv-all-quoted",
        ),
        pytest.param(
            "calls.csv",
            "sid,name\nCA1,René €5\n".encode("cp1252"),
            [("rows", [{"sid": "CA1", "name": "René €5"}])],
            id="csv-windows-1252",
        ),
        pytest.param(
            "calls.csv",
            "sid,name\nCA1,Zoë 語\n".encode(),
            [("rows", [{"sid": "CA1", "name": "Zoë 語"}])],
            id="csv-utf8",
        ),
        pytest.param(
            "calls.csv",
            b"sid,from\nCA1,\n",
            [("rows", [{"sid": "CA1", "from": None}])],
            id="csv-empty-value",
        ),
        pytest.param("calls.csv", b"", [("rows", [])], id="csv-empty-file"),
        pytest.param("calls.csv", b"sid,from\n", [("rows", [])], id="csv-header-only"),
        pytest.param(
            "page.json",
            b'{"calls": [{"sid": "CA1", "duration": 4}], "page": 0}',
            [("calls", [{"sid": "CA1", "duration": "4"}])],
            id="json-calls-page",
        ),
        pytest.param(
            "page.json",
            b'{"recordings": [{"sid": "RE1", "channels": 2}]}',
            [("recordings", [{"sid": "RE1", "channels": "2"}])],
            id="json-recordings-page",
        ),
        pytest.param(
            "page.json",
            b'{"calls": [{"sid": "CA1"}], "recordings": [{"sid": "RE1"}]}',
            [("calls", [{"sid": "CA1"}]), ("recordings", [{"sid": "RE1"}])],
            id="json-two-lists",
        ),
        pytest.param(
            "one.json",
            b'{"sid": "CA1", "price": -0.2, "ok": true, "x": null}',
            [("rows", [{"sid": "CA1", "price": "-0.2", "ok": "true", "x": None}])],
            id="json-single-object",
        ),
        pytest.param(
            "list.json",
            b'[{"sid": "CA1"}, {"sid": "CA2", "to": "+1"}]',
            [("rows", [{"sid": "CA1", "to": None}, {"sid": "CA2", "to": "+1"}])],
            id="json-top-level-list",
        ),
        pytest.param(
            "nested.json",
            b'{"calls": [{"sid": "CA1", "sub": {"a": [1]}}]}',
            [("calls", [{"sid": "CA1", "sub": '{"a":[1]}'}])],
            id="json-nested-as-text",
        ),
        pytest.param(
            "odd.json",
            b'[{"sid": "CA1"}, 3]',
            [("rows", [{"sid": "CA1", "_raw": None}, {"sid": None, "_raw": "3"}])],  # JSON text
            id="json-non-object-row",
        ),
        pytest.param(
            "calls.jsonl",
            b'{"sid": "CA1"}\n\n{"sid": "CA2", "n": 1}\r\n',
            [("rows", [{"sid": "CA1", "n": None}, {"sid": "CA2", "n": "1"}])],
            id="jsonl",
        ),
        pytest.param(
            "calls.ndjson", b'{"sid": "CA1"}\n', [("rows", [{"sid": "CA1"}])], id="ndjson"
        ),
        pytest.param(
            "CALLS.JSONL",
            b'{"sid": "CA1"}\n',
            [("rows", [{"sid": "CA1"}])],
            id="upper-case-extension",
        ),
        pytest.param(
            "calls.jsonl.gz",
            gzip.compress(b'{"sid": "CA1"}\n{"sid": "CA2"}\n'),
            [("rows", [{"sid": "CA1"}, {"sid": "CA2"}])],
            id="jsonl-gz",
        ),
        pytest.param(
            "calls.csv.gz", gzip.compress(b"sid\nCA1\n"), [("rows", [{"sid": "CA1"}])], id="csv-gz"
        ),
        pytest.param("calls.jsonl", b"", [("rows", [])], id="jsonl-empty"),
    ],
)
def test_read(
    name: str, data: bytes, expected: list[tuple[str, list[dict[str, str | None]]]]
) -> None:
    collections = read_collections(name, data)
    assert rows(collections) == expected
    assert all_string(collections)


def test_parquet() -> None:
    table = pa.table(
        {
            "sid": ["CA1", "CA2"],
            "duration": pa.array([4, None], pa.int64()),
            "ok": [True, False],
            "price": [-0.2, 1.5],
        }
    )
    collections = read_collections("calls.parquet", parquet(table))
    assert rows(collections) == [
        (
            "rows",
            [
                {"sid": "CA1", "duration": "4", "ok": "true", "price": "-0.2"},
                {"sid": "CA2", "duration": None, "ok": "false", "price": "1.5"},
            ],
        )
    ]
    assert all_string(collections)


# Regression: a Parquet timestamp was staged as JSON text with quotes.
def test_parquet_timestamp_is_plain_iso_text() -> None:
    start = dt.datetime(2024, 4, 15, 14, 0, tzinfo=dt.UTC)
    table = pa.table({"sid": ["CA1"], "start_time": pa.array([start], pa.timestamp("us", "UTC"))})
    value = read_collections("calls.parquet", parquet(table))[0].rows.to_pylist()[0]["start_time"]
    assert dt.datetime.fromisoformat(value) == start


# Regression: Decimal / bytes values raised TypeError out of read_collections.
@pytest.mark.parametrize(
    ("column", "text"),
    [
        pytest.param(
            pa.array([decimal.Decimal("-0.200")], pa.decimal128(5, 3)), "-0.200", id="decimal"
        ),
        pytest.param(pa.array([b"abc"], pa.binary()), "abc", id="binary"),
        pytest.param(
            pa.array([dt.date(2024, 4, 15)], pa.date32()),
            "2024-04-15",
            id="date",
        ),
        pytest.param(pa.array([dt.time(14, 0)], pa.time64("us")), "14:00:00", id="time"),
    ],
)
def test_parquet_other_types_become_text(column: pa.Array, text: str) -> None:
    data = parquet(pa.table({"sid": ["CA1"], "price": column}))
    collections = read_collections("calls.parquet", data)
    assert rows(collections) == [("rows", [{"sid": "CA1", "price": text}])]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        pytest.param("page.json", b'{"calls": [{"sid": "CA1", "fr', id="truncated-json"),
        pytest.param("page.json", b"", id="empty-json"),
        pytest.param("page.json", b"42", id="json-scalar"),
        pytest.param("page.json", bytes(range(256)), id="binary-json"),
        pytest.param("calls.csv", bytes(range(256)) * 4, id="binary-csv"),
        pytest.param("calls.parquet", b"PAR1 not parquet", id="junk-parquet"),
        pytest.param("calls.parquet", b"", id="empty-parquet"),
        pytest.param("calls.xlsx", b"PK\x03\x04", id="unsupported-extension"),
        pytest.param("calls", b"sid\nCA1\n", id="no-extension"),
    ],
)
def test_unreadable(name: str, data: bytes) -> None:
    with pytest.raises(UnreadableFileError):
        read_collections(name, data)


# Regression: gzip errors escaped read_collections (decompress ran outside the try).
@pytest.mark.parametrize(
    "data",
    [b"not gzip at all", gzip.compress(b'{"sid": "CA1"}\n' * 50)[:-12]],
    ids=["junk-gz", "truncated-gz"],
)
def test_unreadable_gzip(data: bytes) -> None:
    with pytest.raises(UnreadableFileError):
        read_collections("calls.jsonl.gz", data)


# Regression: a UTF-8 CSV whose 65,536th byte split a character was read as Windows-1252.
def test_utf8_csv_is_utf8_whatever_its_size() -> None:
    row = "CA1,René\n".encode()
    for pad in range(8):  # find a layout where byte 65,536 splits "é" in two
        data = b"sid,name\nCA0," + b"x" * pad + b"\n" + row * 8000
        if data[(1 << 16) - 1] == 0xC3:
            break
    names = read_collections("calls.csv", data)[0].rows.column("name").to_pylist()
    assert set(names[1:]) == {"René"}


def test_json_round_trip_of_twilio_like_page() -> None:
    page = {
        "calls": [{"sid": f"CA{i}", "duration": str(i), "price": None} for i in range(50)],
        "next_page_uri": None,
    }
    (collection,) = read_collections("p.json", json.dumps(page).encode())
    assert collection.name == "calls" and collection.rows.num_rows == 50
    assert collection.rows.column("duration").to_pylist() == [str(i) for i in range(50)]
