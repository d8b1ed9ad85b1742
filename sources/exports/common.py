"""Vectorised parsing shared by every preset: times, phones, durations, value maps.

Pure code over Arrow arrays. Per-row Python runs only on the distinct values of a column
(phone numbers), never on every row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

TIMESTAMP = pa.timestamp("ms", tz="UTC")
RFC2822 = "%a, %d %b %Y %H:%M:%S %z"
ISO_OFFSET = "%Y-%m-%dT%H:%M:%S%z"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def column(table: pa.Table, *names: str) -> pa.ChunkedArray:
    """The first of `names` present in `table`, with empty strings as nulls; all-null if none."""
    for name in names:
        if name in table.column_names:
            values = table.column(name).cast(pa.string())
            return pc.if_else(pc.equal(pc.utf8_trim_whitespace(values), ""), None, values)
    return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])


def parse_times(values: pa.ChunkedArray, formats: Sequence[str]) -> pa.ChunkedArray:
    """Strings in any of `formats` (each must carry its UTC offset) -> UTC timestamps, else null."""
    result = pa.chunked_array([pa.nulls(len(values), TIMESTAMP)])
    for fmt in formats:
        parsed = pc.strptime(values, format=fmt, unit="ms", error_is_null=True)
        result = pc.coalesce(result, parsed.cast(TIMESTAMP))
    return result


def parse_int(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Integer strings (whitespace allowed) -> int64; anything else -> null."""
    trimmed = pc.utf8_trim_whitespace(values)
    ok = pc.match_substring_regex(trimmed, r"^-?\d{1,18}$")
    return pc.if_else(ok, trimmed, None).cast(pa.int64())


def seconds_to_ms(values: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.multiply(parse_int(values), 1000)


def map_values(values: pa.ChunkedArray, table: Mapping[str, str], default: str | None) -> pa.Array:
    """Lower-cased source words -> our vocabulary; unknown words -> `default`, null stays null."""
    keys = pa.array(list(table.keys()), pa.string())
    mapped = pa.array(list(table.values()), pa.string())
    index = pc.index_in(pc.utf8_lower(values), value_set=keys)
    result = pc.take(mapped, index)
    return pc.if_else(pc.is_null(values), None, pc.coalesce(result, default))


def normalise_phones(values: pa.ChunkedArray, region: str | None) -> pa.ChunkedArray:
    """Phone strings -> E.164, or null when not a valid number (the raw column keeps the input)."""
    distinct = pc.unique(values).drop_null()
    e164 = pa.array([to_e164(v, region) for v in distinct.to_pylist()], pa.string())
    return pc.take(e164, pc.index_in(values, value_set=distinct))


@lru_cache(maxsize=1_000_000)
def to_e164(raw: str, region: str | None) -> str | None:
    """One number to E.164; valid E.164 input takes the fast path (no parsing)."""
    text = raw.strip()
    if _E164.match(text):
        return text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def duration_between(start: pa.ChunkedArray, end: pa.ChunkedArray) -> pa.ChunkedArray:
    """end - start in ms (null when either is missing or end is before start)."""
    ms = pc.subtract(end.cast(pa.int64()), start.cast(pa.int64()))
    return pc.if_else(pc.less(ms, 0), None, ms)


_ISO = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)$"


def parse_iso_times(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO 8601 strings with `Z` or an offset (fractions allowed) -> UTC; naive or bad -> null."""
    candidates = pc.if_else(pc.match_substring_regex(values, _ISO), pc.utf8_upper(values), None)
    try:  # via ns: Arrow refuses more fraction digits than the unit holds
        return pc.cast(pc.cast(candidates, pa.timestamp("ns", tz="UTC")), TIMESTAMP, safe=False)
    except pa.ArrowInvalid:  # a well-shaped but impossible date (2019-02-30): value by value
        return pa.chunked_array(
            [pa.array([_iso_or_none(v) for v in candidates.to_pylist()], TIMESTAMP)]
        )


def _iso_or_none(value: str | None) -> object:
    if value is None:
        return None
    try:
        return (
            pa.scalar(value).cast(pa.timestamp("ns", tz="UTC")).cast(TIMESTAMP, safe=False).as_py()
        )
    except pa.ArrowInvalid:
        return None


def parse_any_time(values: pa.ChunkedArray, formats: Sequence[str] = (RFC2822,)) -> pa.ChunkedArray:
    """ISO 8601 with an offset, or any of `formats` (RFC 2822 by default)."""
    return pc.coalesce(parse_iso_times(values), parse_times(values, formats))
