"""A generated hostile corpus, per preset (issue 12): each preset's sample files with every
field of a record set to each hostile value in turn, plus weird encodings, ragged lines, a huge
cell, BOMs and non-object rows. Written to a folder, one job per preset."""

from __future__ import annotations

import codecs
import csv
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sources.exports.collection import FIELD_LIMIT_BYTES

SAMPLES = Path(__file__).parent / "unit" / "samples"
PRESETS = ("aircall", "dialpad", "generic", "gong", "ringcentral", "salesforce", "zoom")
HOSTILE: tuple[Any, ...] = (
    1713189600000,  # ms where seconds are expected
    1713189600000000,  # µs
    -1713189600,  # a negative epoch
    10**15,
    -99999999999,
    2**64,
    1e308,
    "NaN",
    "inf",
    "-0",
    "",
    None,
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",
    "2024-02-30T10:00:00Z",
    "99999999999999999999:00:00",
    "\u0000\u202e\ufeff",
    "\udcff" if False else "x" * 300,
    [],
    {"nested": [1, {"deep": None}]},
    True,
)
LIST_KEYS = ("calls", "recordings", "meetings", "records", "data", "results", "items")


def write_corpus(folder: Path) -> dict[str, Path]:
    """folder/<preset>/ for each preset (and twilio, generated): the job folders."""
    out = {}
    for preset in PRESETS:
        target = folder / preset
        target.mkdir(parents=True)
        for sample in sorted((SAMPLES / preset).iterdir()):
            if sample.suffix == ".toml":
                shutil.copy(sample, folder / f"{preset}_{sample.name}")
                continue
            for name, data in hostile_variants(sample.name, sample.read_bytes()):
                (target / name).write_bytes(data)
        out[preset] = target
    out["twilio"] = _twilio(folder / "twilio")
    return out


def hostile_variants(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    stem, ext = name.rsplit(".", 1)
    if ext == "csv":
        yield from _csv_variants(stem, data)
    elif ext == "jsonl":
        lines = [json.loads(line) for line in data.splitlines() if line.strip()]
        rows = [m for record in lines[:1] for m in mutations(record)] + [5, None, [1, 2]]
        text = "\n".join(json.dumps(r) for r in rows) + "\n{not json\n"
        yield f"{stem}_hostile.jsonl", codecs.BOM_UTF8 + text.encode()
    elif ext == "json":
        doc = json.loads(data)
        yield f"{stem}_hostile.json", codecs.BOM_UTF8 + json.dumps(_mutated(doc)).encode()
        yield f"{stem}_huge.json", json.dumps(_huge(doc)).encode()


ID_KEYS = ("id", "Id", "sid", "call_id", "uuid", "master_call_id", "metaData", "data")


def mutations(record: Any) -> Iterator[Any]:
    """The record with each leaf (depth-first) set to each hostile value in turn; each with an
    id of its own where the id is found, so that it is not folded into the original."""
    for n, (path, value) in enumerate((p, v) for p in list(_leaves(record)) for v in HOSTILE):
        mutated = _replaced(record, path, value)
        yield _own_id(mutated, path, n)


def _own_id(record: Any, path: tuple[Any, ...], n: int) -> Any:
    if not isinstance(record, dict):
        return record
    for key in ID_KEYS:
        inner = record.get(key)
        if isinstance(inner, dict):  # Gong metaData.id, webhook data.id
            return {**record, key: _own_id(inner, path[1:], n)}
        if key in record and path[:1] != (key,) and isinstance(inner, str | int):
            return {
                **record,
                key: f"{inner}{n:05d}" if isinstance(inner, str) else inner * 100_000 + n,
            }
    return record


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list) and value:
        yield from _leaves(value[0], (*path, 0))
    else:
        yield path


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


def _records(doc: Any) -> tuple[list[Any], Any]:
    """The record list of a page (and a function-free way to put it back: the key)."""
    if isinstance(doc, list):
        return doc, None
    for key in LIST_KEYS:
        if isinstance(doc.get(key), list) and doc[key]:
            return doc[key], key
    return [doc], ""


def _mutated(doc: Any) -> Any:
    records, key = _records(doc)
    rows = [m for record in records[:1] for m in mutations(record)] + [5, None, [1, 2]]
    if key is None:
        return rows
    if key == "":
        return rows  # a single object becomes a list of its mutations
    return {**doc, key: records + rows}


def _huge(doc: Any) -> Any:
    records, key = _records(doc)
    first = records[0] if isinstance(records[0], dict) else {}
    big = {**first, **dict.fromkeys(list(first)[-1:], "x" * (FIELD_LIMIT_BYTES + 1))}
    rows = [big, *records]
    return rows if not key else {**doc, key: rows}


def _csv_variants(stem: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    encoding = "utf-8" if _is_utf8(data) else "cp1252"
    rows = list(csv.reader(io.StringIO(data.decode(encoding).lstrip("\ufeff"))))
    header, body = rows[0], rows[1:2]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    id_column = next(
        (i for i, h in enumerate(header) if h.lower() in {"id", "call id", "sid"}), None
    )
    n = 0
    for row in body:
        writer.writerow(row)
        for i in range(len(header)):
            for value in HOSTILE:
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    n += 1
                    mutated = [*row[:i], str(value), *row[i + 1 :]]
                    if id_column is not None and id_column != i:
                        mutated[id_column] += f"{n:05d}"
                    writer.writerow(mutated)
    writer.writerow([*body[0], "one", "too", "many"])  # ragged
    writer.writerow(body[0][:1])  # ragged, short
    text = out.getvalue()
    yield f"{stem}_hostile.csv", codecs.BOM_UTF8 + text.encode("utf-8")
    # one Windows-1252 byte in a UTF-8 file
    bad = io.StringIO()
    csv.writer(bad).writerow([*body[0][:-1], "caf\x00"])
    yield f"{stem}_mixed.csv", (text + bad.getvalue()).encode().replace(b"caf\x00", b"caf\xe9")
    huge = [*body[0][:-1], "x" * (FIELD_LIMIT_BYTES + 1)]
    extra = io.StringIO()
    csv.writer(extra).writerows([header, huge, *body])
    yield f"{stem}_huge.csv", extra.getvalue().encode()


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _twilio(folder: Path) -> Path:
    folder.mkdir(parents=True)
    header = "sid,parent_call_sid,from,to,start_time,end_time,duration,status,direction\n"
    good = [
        "CA" + "a" * 32,
        "",
        "+14155550100",
        "+14155550101",
        "Fri, 18 Oct 2019 17:02:00 +0000",
        "Fri, 18 Oct 2019 17:04:00 +0000",
        "120",
        "completed",
        "inbound",
    ]
    out = io.StringIO()
    writer = csv.writer(out)
    n = 0
    for i in range(len(good)):
        for value in HOSTILE:
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                n += 1
                row = [*good[:i], str(value), *good[i + 1 :]]
                if i != 0:
                    row[0] = f"CA{n:032x}"
                writer.writerow(row)
    (folder / "calls.csv").write_bytes(codecs.BOM_UTF8 + (header + out.getvalue()).encode())
    (folder / "huge.csv").write_text(header + "CA1,,+1," + "x" * (FIELD_LIMIT_BYTES + 1) + "\n")
    (folder / "calls.json").write_text(json.dumps({"calls": [5, None, [1, 2], {"sid": "CA2"}]}))
    return folder
