"""Nested JSON inside export rows (webhook envelopes, participant lists, dotted paths).

Readers keep nested values as JSON text in string columns; these helpers parse them per row,
which is only done for the nested columns a preset needs, never for whole tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa

from sources.exports.common import column
from sources.exports.readers import records_to_table


def json_docs(values: pa.ChunkedArray) -> list[Any]:
    """JSON text (objects, lists) -> Python values; anything else -> None."""
    return [_loads(v) for v in values.to_pylist()]


def _loads(text: str | None) -> Any:
    if not text or text[0] not in "[{":
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def join_json_list(values: pa.ChunkedArray, key: str, sep: str = "\n\n") -> pa.ChunkedArray:
    """JSON lists of objects (Aircall `comments`) -> their `key` texts joined; none -> null."""
    joined = [
        sep.join(str(i[key]) for i in doc if isinstance(i, dict) and i.get(key)) or None
        if isinstance(doc, list)
        else None
        for doc in json_docs(values)
    ]
    return pa.chunked_array([pa.array(joined, pa.string())])


def walk(doc: Any, keys: Sequence[str]) -> Any:
    """doc[k1][k2]…; list items by index (`files.0.url`); None where the path breaks."""
    for key in keys:
        if isinstance(doc, dict):
            doc = doc.get(key)
        elif isinstance(doc, list) and key.isdigit() and int(key) < len(doc):
            doc = doc[int(key)]
        else:
            return None
    return doc


def _split_path(table: pa.Table, path: str) -> tuple[str | None, list[str]]:
    """The longest leading part of a dotted path that names a column, and the rest."""
    keys = path.split(".")
    for cut in range(len(keys), 0, -1):
        if ".".join(keys[:cut]) in table.column_names:
            return ".".join(keys[:cut]), keys[cut:]
    return None, keys


def extract_paths(table: pa.Table, paths: Sequence[str]) -> dict[str, pa.ChunkedArray]:
    """Dotted paths (`user.email`) -> string columns (blank -> null).

    A path naming a column is that column; otherwise its longest leading part that names a column
    holds JSON text, parsed once per row for every path into it.
    """
    out: dict[str, pa.ChunkedArray] = {}
    nested: dict[str, list[tuple[str, list[str]]]] = {}
    for path in paths:
        base, rest = _split_path(table, path)
        if base is not None and not rest:
            out[path] = column(table, path)
        elif base is None:
            out[path] = column(table)
        else:
            nested.setdefault(base, []).append((path, rest))
    for base, wanted in nested.items():
        docs = json_docs(table.column(base))
        found = records_to_table([{p: walk(d, r) for p, r in wanted} for d in docs])
        out.update({p: column(found, p) for p, _ in wanted})
    return out


def unwrap_json(table: pa.Table, path: str) -> pa.Table:
    """The JSON object at `path` (`data`, `payload.object`) as columns, beside the other columns;
    the object's keys win over columns of the same name."""
    base, rest = _split_path(table, path)
    if base is None:
        return table
    docs = [walk(d, rest) for d in json_docs(table.column(base))]
    inner = records_to_table([d if isinstance(d, dict) else {} for d in docs])
    outer = table.drop_columns([base])
    for name in inner.column_names:
        if name in outer.column_names:
            outer = outer.drop_columns([name])
        outer = outer.append_column(name, inner.column(name))
    return outer
