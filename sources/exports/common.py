"""Vectorised parsing shared by every preset: times, phones, durations, ids, value maps.

Pure code over Arrow arrays. Per-row Python runs only on the distinct values of a column
(phone numbers) and on nested JSON text (`extract_paths`, `unwrap_json`, `json_docs`), never
on flat columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sources.engagements.phones import to_e164

TIMESTAMP = pa.timestamp("ms", tz="UTC")
RFC2822 = "%a, %d %b %Y %H:%M:%S %z"
ISO_OFFSET = "%Y-%m-%dT%H:%M:%S%z"


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
    """Whole seconds -> ms; a number too large saturates at ±2^53 ms (see to_ms), never wraps."""
    whole = pc.match_substring_regex(pc.utf8_trim_whitespace(values), r"^-?\d+$")
    return pc.if_else(whole, to_ms(values, "s"), None)


def map_values(values: pa.ChunkedArray, table: Mapping[str, str], default: str | None) -> pa.Array:
    """Lower-cased source words -> our vocabulary; unknown words -> `default` (may be None),
    null stays null."""
    keys = pa.array(list(table.keys()), pa.string())
    mapped = pa.array(list(table.values()), pa.string())
    index = pc.index_in(pc.utf8_lower(values), value_set=keys)
    result = pc.take(mapped, index)
    return pc.if_else(
        pc.is_null(values), None, pc.coalesce(result, pa.scalar(default, pa.string()))
    )


def normalise_phones(values: pa.ChunkedArray, region: str | None) -> pa.ChunkedArray:
    """Phone strings -> E.164, or null when not a valid number (the raw column keeps the input)."""
    distinct = pc.unique(values).drop_null()
    e164 = pa.array([to_e164(v, region) for v in distinct.to_pylist()], pa.string())
    return pc.take(e164, pc.index_in(values, value_set=distinct))


def duration_between(start: pa.ChunkedArray, end: pa.ChunkedArray) -> pa.ChunkedArray:
    """end - start in ms (null when either is missing or end is before start)."""
    ms = pc.subtract(end.cast(pa.int64()), start.cast(pa.int64()))
    return pc.if_else(pc.less(ms, 0), None, ms)


_ISO = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)$"


def parse_iso_times(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO 8601 strings with `Z` or an offset (fractions allowed) -> UTC; naive or bad -> null."""
    candidates = pc.if_else(pc.match_substring_regex(values, _ISO), pc.utf8_upper(values), None)
    return _cast_times(candidates, "UTC")


def _cast_times(candidates: pa.ChunkedArray, tz: str | None) -> pa.ChunkedArray:
    """Well-shaped ISO strings -> timestamp[ms, tz]; an impossible date (2019-02-30) -> null."""
    wide, unit = pa.timestamp("ns", tz=tz), pa.timestamp("ms", tz=tz)
    try:  # via ns: Arrow refuses more fraction digits than the unit holds
        return pc.cast(pc.cast(candidates, wide), unit, safe=False)
    except pa.ArrowInvalid:  # value by value, only when some value is impossible
        return pa.chunked_array(
            [pa.array([_time_or_none(v, wide, unit) for v in candidates.to_pylist()], unit)]
        )


def _time_or_none(value: str | None, wide: pa.DataType, unit: pa.DataType) -> object:
    if value is None:
        return None
    try:
        return pa.scalar(value).cast(wide).cast(unit, safe=False).as_py()
    except pa.ArrowInvalid:
        return None


def parse_any_time(values: pa.ChunkedArray, formats: Sequence[str] = (RFC2822,)) -> pa.ChunkedArray:
    """ISO 8601 with an offset, or any of `formats` (RFC 2822 by default)."""
    return pc.coalesce(parse_iso_times(values), parse_times(values, formats))


# --- times without an offset, epochs, durations --------------------------------------------------

_NAIVE_ISO = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$"
UTC_ZONES = ("UTC", "Etc/UTC", "GMT", "Z")
UNIT_MS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}
TIME_FORMATS = ("iso", "epoch_s", "epoch_ms", "rfc2822")  # or any strptime format
DURATION_UNITS = (*UNIT_MS, "hh:mm:ss")
_MAX_MS = 2**53  # beyond this a float no longer holds whole milliseconds


def localise(naive: pa.ChunkedArray, zone: str = "UTC") -> pa.ChunkedArray:
    """Wall-clock timestamps read in the IANA `zone` -> UTC. A time repeated when clocks go back
    reads as its first occurrence; a time skipped when they go forward as the end of the gap.
    (Arrow's zone rules end in 2037: later summer times read as standard time.)"""
    if zone in UTC_ZONES:
        return pc.cast(naive, TIMESTAMP)
    aware = pc.assume_timezone(naive, timezone=zone, ambiguous="earliest", nonexistent="latest")
    return pc.cast(aware, TIMESTAMP)


def parse_naive_times(values: pa.ChunkedArray, zone: str = "UTC") -> pa.ChunkedArray:
    """ISO dates/times without an offset (`2023-01-19 21:00:00[.083]`) in `zone` -> UTC."""
    candidates = pc.if_else(pc.match_substring_regex(values, _NAIVE_ISO), values, None)
    return localise(_cast_times(candidates, None), zone)


def parse_time_as(values: pa.ChunkedArray, fmt: str = "iso", zone: str = "UTC") -> pa.ChunkedArray:
    """Times in one declared format -> UTC.

    `iso`: ISO 8601, with an offset or naive in `zone`; `epoch_s` / `epoch_ms`: Unix time;
    `rfc2822`; anything else is a strptime format, read in `zone` unless it has `%z`.
    """
    if fmt == "iso":
        return pc.coalesce(parse_iso_times(values), parse_naive_times(values, zone))
    if fmt in ("epoch_s", "epoch_ms"):
        return parse_epoch(values, fmt.removeprefix("epoch_"))
    if fmt == "rfc2822":
        return parse_times(values, (RFC2822,))
    if "%z" in fmt:
        return parse_times(values, (fmt,))
    return localise(pc.strptime(values, format=fmt, unit="ms", error_is_null=True), zone)


DST_GAP = "time_in_dst_gap_shifted"  # a wall-clock time skipped when clocks went forward
DST_OVERLAP = "time_in_dst_overlap_earlier"  # one repeated when they went back


def dst_warnings(values: pa.ChunkedArray, fmt: str = "iso", zone: str = "UTC") -> pa.ChunkedArray:
    """Per value read as wall-clock time in `zone` (see `localise` for the policy): DST_GAP when
    that time does not exist there, DST_OVERLAP when it exists twice, else null."""
    n = len(values)
    if zone in UTC_ZONES or fmt in ("epoch_s", "epoch_ms", "rfc2822") or "%z" in fmt:
        return pa.chunked_array([pa.nulls(n, pa.string())])
    if fmt == "iso":
        naive_text = pc.if_else(pc.match_substring_regex(values, _NAIVE_ISO), values, None)
        naive = _cast_times(naive_text, None)
    else:
        naive = pc.strptime(values, format=fmt, unit="ms", error_is_null=True)

    def read(ambiguous: str, nonexistent: str) -> pa.ChunkedArray:
        aware = pc.assume_timezone(
            naive, timezone=zone, ambiguous=ambiguous, nonexistent=nonexistent
        )
        return aware.cast(pa.int64())

    gap = pc.not_equal(read("earliest", "earliest"), read("earliest", "latest"))
    overlap = pc.not_equal(read("earliest", "latest"), read("latest", "latest"))
    return first_match([(gap, DST_GAP), (overlap, DST_OVERLAP)], None, n)


def parse_number(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Decimal strings (`12`, `-0.5`, `1e3`) -> float64; anything else -> null."""
    trimmed = pc.utf8_trim_whitespace(values)
    ok = pc.match_substring_regex(trimmed, r"^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$")
    return pc.if_else(ok, trimmed, None).cast(pa.float64())


def to_ms(values: pa.ChunkedArray, unit: str) -> pa.ChunkedArray:
    """Numbers in `unit` (ms, s, min, h; decimals allowed) -> whole ms, exact for integers.

    A number beyond ±2^53 ms (285,000 years) saturates there instead of overflowing, so an
    absurd value stays visible as absurd (limits.py rejects it) rather than wrapping around."""
    factor = UNIT_MS[unit]
    ints = parse_int(values)
    exact = pc.if_else(pc.less_equal(pc.abs(ints), _MAX_MS // factor), ints, None)
    scaled = pc.round(pc.multiply(parse_number(values), float(factor)))
    bounded = pc.max_element_wise(
        pc.min_element_wise(scaled, float(_MAX_MS), skip_nulls=False),
        float(-_MAX_MS),
        skip_nulls=False,
    )
    return pc.coalesce(pc.multiply(exact, factor), pc.cast(bounded, pa.int64()))


def parse_epoch(values: pa.ChunkedArray, unit: str = "s") -> pa.ChunkedArray:
    """Unix time in `unit` (s or ms; JSON numbers or strings) -> UTC timestamps."""
    return pc.cast(to_ms(values, unit), TIMESTAMP)


_HMS = r"^\s*(?:(?P<h>\d{1,9}):)?(?P<m>\d{1,2}):(?P<s>\d{2})(?:[.,](?P<f>\d{1,3}))?\s*$"


def parse_hms(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """`HH:MM:SS[.fff]` or `MM:SS` durations -> ms; anything else -> null."""
    parts = pc.extract_regex(values, _HMS)

    def part(name: str) -> pa.ChunkedArray:
        text = pc.struct_field(parts, name)
        if name == "f":
            text = pc.utf8_rpad(text, width=3, padding="0")
        return pc.if_else(pc.equal(text, ""), "0", text).cast(pa.int64())

    ms = pc.add(
        pc.add(pc.multiply(part("h"), 3_600_000), pc.multiply(part("m"), 60_000)),
        pc.add(pc.multiply(part("s"), 1000), part("f")),
    )
    return pc.if_else(pc.is_valid(parts), ms, None)


def parse_duration(values: pa.ChunkedArray, unit: str) -> pa.ChunkedArray:
    """Durations in `unit` (ms, s, min, h, or `hh:mm:ss`) -> ms."""
    return parse_hms(values) if unit == "hh:mm:ss" else to_ms(values, unit)


def derive_span(
    start: pa.ChunkedArray,
    end: pa.ChunkedArray,
    duration_ms: pa.ChunkedArray,
    measured_first: bool = False,
) -> tuple[pa.ChunkedArray, pa.ChunkedArray, pa.ChunkedArray]:
    """(start, end, duration) with each missing one derived from the other two, row by row.

    The most precise source wins: `measured_first` when `duration_ms` is rounded (Zoom and
    Salesforce minutes), so the measured span end - start beats it; else the duration field
    (exact ms or s) does. Whenever start and duration are known, end = start + duration.
    """
    span = duration_between(start, end)
    duration = pc.coalesce(span, duration_ms) if measured_first else pc.coalesce(duration_ms, span)
    length = pc.cast(duration, pa.duration("ms"))
    start = pc.coalesce(start, pc.subtract(end, length))
    return start, pc.coalesce(pc.add(start, length), end), duration


# --- ids, names, phones ------------------------------------------------------------------------

_FLOAT_ID = r"^-?\d+(\.\d+)?[eE][+-]?\d+$|^-?\d+\.\d+$"


def source_ids(values: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """Ids as exact text, and a mask of ids exported as floats that may have lost digits.

    `123.0` with at most 15 digits is still exact and becomes `123`; `7.78e+18` is flagged.
    """
    trimmed = pc.utf8_trim_whitespace(values)
    whole = pc.replace_substring_regex(trimmed, pattern=r"^(\d{1,15})\.0+$", replacement=r"\1")
    lossy = pc.fill_null(pc.match_substring_regex(whole, _FLOAT_ID), False)
    ids = pc.if_else(pc.or_(lossy, pc.equal(whole, "")), None, whole)
    return ids, lossy


def column_any_case(table: pa.Table, *names: str) -> pa.ChunkedArray:
    """`column` with names matched case-insensitively (`CreatedDate` = `CREATEDDATE`); files
    stacked with both spellings give the first non-null of them, row by row."""
    for name in names:
        found = [c for c in table.column_names if c.lower() == name.lower()]
        if found:
            return pc.coalesce(*(column(table, c) for c in found))
    return column(table)


def any_of(*masks: Any) -> pa.ChunkedArray:
    """Row-wise OR where a null mask counts as False."""
    result = pc.fill_null(masks[0], False)
    for mask in masks[1:]:
        result = pc.or_(result, pc.fill_null(mask, False))
    return result


def normalise_digits(values: pa.ChunkedArray, region: str | None) -> pa.ChunkedArray:
    """`normalise_phones` for numbers written as bare international digits (`61412345678`)."""
    bare = pc.match_substring_regex(values, r"^\d{8,15}$")
    plus = pc.if_else(bare, pc.binary_join_element_wise("+", values, ""), None)
    return pc.coalesce(normalise_phones(plus, None), normalise_phones(values, region))


def by_direction(
    direction: pa.ChunkedArray, ours: pa.ChunkedArray, theirs: pa.ChunkedArray
) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """(from, to) of a call between our line and the other party: outbound calls go from ours
    to theirs, every other call from theirs to ours."""
    outbound = pc.fill_null(pc.equal(direction, "outbound"), False)
    return pc.if_else(outbound, ours, theirs), pc.if_else(outbound, theirs, ours)


def constant(value: Any, num_rows: int, type_: pa.DataType | None = None) -> pa.Array:
    return pa.array([value] * num_rows, type_ or pa.string())


def first_match(cases: Sequence[tuple[Any, str]], default: Any, num_rows: int) -> pa.ChunkedArray:
    """Per row, the value of the first case whose mask holds (null masks do not), else `default`
    (a value or an array): a vectorised if/elif chain for status rules."""
    result = default if isinstance(default, pa.ChunkedArray | pa.Array) else None
    result = result if result is not None else constant(default, num_rows)
    for mask, value in reversed(cases):
        result = pc.if_else(pc.fill_null(mask, False), value, result)
    return pa.chunked_array([result]) if isinstance(result, pa.Array) else result
