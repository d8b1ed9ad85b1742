"""Mapping files for the `generic` preset: any CSV / JSON / JSONL / Parquet export of calls or
meetings, described in TOML.

Pure: `parse_mapping(text)` turns the file's text (the caller reads the bytes) into a checked
dict, which the job passes to the preset as `MapContext.options["mapping"]`; `load_mapping`
turns that dict into a `MappingFile` (and checks it again, so a hand-built dict gets the same
errors). Every problem is reported at once, naming the key and the fix (`MappingError`).

Format::

    [source]                       # all keys optional
    collections = ["rows"]         # which collections to read: "rows" for CSV/JSONL/Parquet, the
                                   #   list key of a JSON page ("calls", "records", …); default all
    unwrap = "data"                # JSON path of the record inside each row (webhook envelopes)
    time_zone = "Europe/Paris"     # zone of times written without an offset (default UTC)
    phone_region = "FR"            # region of numbers written without +country (default: the
                                   #   job's default_region)
    keep = "last"                  # rows sharing a source_id fold into one: keep the "last"
                                   #   (default) or the "first" row, by file and row order

    [fields]                       # canonical field = where its value comes from
    source_id = "Call ID"          # a column name, or a dotted JSON path ("data.user.email",
                                   #   "files.0.url"); a list tries each in turn
    kind = { value = "call" }      # a constant: `value` instead of `from`
    title = "Subject"
    started_at = { from = "Start", format = "%d/%m/%Y %H:%M:%S", zone = "Europe/Paris" }
    ended_at = { from = "End", format = "iso" }
    duration_ms = { from = "Duration", unit = "hh:mm:ss" }
    direction = { from = "Type", map = { In = "inbound", Out = "outbound" } }
    status = { from = "Result", map = { Answered = "completed", "No answer" = "no_answer" } }
    from_phone = { from = "Caller", region = "FR" }
    to_phone = "Callee"
    recording_url = ["Recording", "Voicemail"]
    owner_email = "data.user.email"

Fields: source_id, kind, started_at (required: or both ended_at and duration_ms), title, body,
ended_at, duration_ms, direction, status, disposition, from_phone, to_phone, recording_url,
transcript_text, owner_email. A missing field is null; of start, end and duration any missing
one is derived from the other two. Per-field keys:
- `format` (started_at, ended_at): `iso` (default; ISO 8601 with an offset, or without one in
  `zone`), `epoch_s`, `epoch_ms`, `rfc2822`, or a strptime format (`%d/%m/%Y %H:%M`), read in
  `zone` unless it contains `%z`. `zone`: an IANA name; default `[source].time_zone`, else UTC.
- `unit` (duration_ms): `s` (default), `ms`, `min`, `h` or `hh:mm:ss`.
- `region` (from_phone, to_phone): ISO country code for national numbers.
- `map` (kind, direction, status, or any text field): source word -> value, matched
  case-insensitively; `default` is the value for unmapped words (kind: rows whose kind maps to
  neither call nor meeting are rejected; direction and status default to "unknown"; other
  fields keep unmapped words as they are). direction values: inbound, outbound, internal,
  unknown; status values: completed, no_answer, busy, failed, voicemail, missed, canceled,
  unknown. Without a map, direction and status understand our own words and common synonyms.
Participants are made from the two phones and the owner's e-mail; status_raw and the *_raw
phone columns keep the source values.
"""

from __future__ import annotations

import tomllib
import zoneinfo
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from sources.engagements.model import STATUSES
from sources.errors import MappingError
from sources.exports.common import DURATION_UNITS, TIME_FORMATS

FIELDS = (
    "source_id",
    "kind",
    "title",
    "body",
    "started_at",
    "ended_at",
    "duration_ms",
    "direction",
    "status",
    "disposition",
    "from_phone",
    "to_phone",
    "recording_url",
    "transcript_text",
    "owner_email",
)
TIMES, PHONES = ("started_at", "ended_at"), ("from_phone", "to_phone")
VOCABULARY: dict[str, tuple[str, ...]] = {
    "kind": ("call", "meeting"),
    "direction": ("inbound", "outbound", "internal", "unknown"),
    "status": STATUSES,
}
SOURCE_KEYS = ("collections", "unwrap", "time_zone", "phone_region", "keep")
FIELD_KEYS = ("from", "value", "format", "zone", "unit", "region", "map", "default")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    paths: tuple[str, ...] = ()  # where the value comes from, tried in turn
    value: str | None = None  # or a constant
    format: str = "iso"
    zone: str = "UTC"
    unit: str = "s"
    region: str | None = None
    map: MappingABC[str, str] = field(default_factory=dict)  # keys lower-cased
    default: str | None = None


@dataclass(frozen=True)
class MappingFile:
    fields: MappingABC[str, FieldSpec]
    collections: tuple[str, ...] = ()  # empty: every collection
    unwrap: str | None = None
    phone_region: str | None = None
    keep: str = "last"


def parse_mapping(text: str | bytes) -> dict[str, Any]:
    """A mapping file's text -> the checked dict for `MapContext.options["mapping"]`."""
    try:
        raw = tomllib.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"mapping file is not valid TOML: {exc}") from exc
    load_mapping(raw)
    return raw


def load_mapping(raw: Any) -> MappingFile:
    """A parsed mapping dict -> `MappingFile`; MappingError listing every problem otherwise."""
    problems: list[str] = []
    if not isinstance(raw, MappingABC):
        raise MappingError("the generic preset needs a mapping: set the job's mapping file")
    source = _table(raw, "source", problems)
    fields = _table(raw, "fields", problems)
    _unknown(raw, ("source", "fields"), "the top level", problems)
    _unknown(source, SOURCE_KEYS, "[source]", problems)
    _unknown(fields, FIELDS, "[fields]", problems)
    zone = _zone(source.get("time_zone", "UTC"), "[source].time_zone", problems)
    region = _region(source.get("phone_region"), "[source].phone_region", problems)
    specs = {
        name: _field(name, spec, zone, problems) for name, spec in fields.items() if name in FIELDS
    }
    _required(specs, problems)
    keep = source.get("keep", "last")
    if keep not in ("first", "last"):
        problems.append(f'[source].keep = {keep!r}: use "first" or "last"')
    collections = source.get("collections", [])
    collections = [collections] if isinstance(collections, str) else collections
    if not isinstance(collections, list) or not all(isinstance(c, str) for c in collections):
        problems.append('[source].collections: a name or a list of names, e.g. ["rows"]')
        collections = []
    unwrap = source.get("unwrap")
    if unwrap is not None and not isinstance(unwrap, str):
        problems.append('[source].unwrap: a dotted JSON path, e.g. "data"')
    if problems:
        raise MappingError("mapping file problems:\n- " + "\n- ".join(problems))
    return MappingFile(specs, tuple(collections), unwrap, region, keep)


def _table(raw: MappingABC[str, Any], key: str, problems: list[str]) -> MappingABC[str, Any]:
    value = raw.get(key, {})
    if isinstance(value, MappingABC):
        return value
    problems.append(f"[{key}] must be a table")
    return {}


def _unknown(
    table: MappingABC[str, Any], allowed: tuple[str, ...], where: str, problems: list[str]
) -> None:
    for key in table:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r} (known: {', '.join(allowed)})")


def _zone(value: Any, where: str, problems: list[str]) -> str:
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(f"{where} = {value!r}: not an IANA time zone (e.g. Europe/Paris, UTC)")
        return "UTC"
    return str(value)


def _region(value: Any, where: str, problems: list[str]) -> str | None:
    if value is None or value in phonenumbers.SUPPORTED_REGIONS:
        return value
    problems.append(f"{where} = {value!r}: not a two-letter region code (e.g. US, GB, FR)")
    return None


def _field(name: str, spec: Any, zone: str, problems: list[str]) -> FieldSpec:
    """One [fields] entry: a path, a list of paths, or a table of FIELD_KEYS."""
    where = f"[fields].{name}"
    if isinstance(spec, str | list):
        spec = {"from": spec}
    if not isinstance(spec, MappingABC):
        problems.append(f"{where}: a column/path, a list of them, or a table")
        return FieldSpec(name)
    _unknown(spec, FIELD_KEYS, where, problems)
    paths = spec.get("from", [])
    paths = [paths] if isinstance(paths, str) else paths
    if ("value" in spec) == bool(paths):
        problems.append(f"{where}: give either `from` (where the value is) or `value` (a constant)")
    value_map = spec.get("map", {})
    if not isinstance(value_map, MappingABC):
        problems.append(f"{where}.map: a table of source word = value")
        value_map = {}
    fmt, unit = str(spec.get("format", "iso")), str(spec.get("unit", "s"))
    default = spec.get("default")
    words = [*value_map.values(), spec.get("value"), default]
    _check_values(name, fmt, unit, words, problems)
    return FieldSpec(
        name,
        tuple(str(p) for p in paths),
        None if spec.get("value") is None else str(spec["value"]),
        fmt,
        _zone(spec["zone"], f"{where}.zone", problems) if "zone" in spec else zone,
        unit,
        _region(spec.get("region"), f"{where}.region", problems),
        {str(k).lower(): str(v) for k, v in value_map.items()},
        None if default is None else str(default),
    )


def _check_values(name: str, fmt: str, unit: str, words: list[Any], problems: list[str]) -> None:
    """Formats and units we can read; mapped and constant words from our vocabulary."""
    where = f"[fields].{name}"
    if fmt not in TIME_FORMATS and "%" not in fmt:
        problems.append(
            f"{where}.format = {fmt!r}: use {', '.join(TIME_FORMATS)} or a strptime format"
        )
    if unit not in DURATION_UNITS:
        problems.append(f"{where}.unit = {unit!r}: use one of {', '.join(DURATION_UNITS)}")
    allowed = VOCABULARY.get(name)
    for word in words:
        if allowed and word is not None and word not in allowed:
            problems.append(f"{where}: {word!r} is not one of {', '.join(allowed)}")


def _required(specs: MappingABC[str, FieldSpec], problems: list[str]) -> None:
    for name in ("source_id", "kind"):
        if name not in specs:
            problems.append(f"[fields].{name} is required")
    if "started_at" not in specs and not {"ended_at", "duration_ms"} <= set(specs):
        problems.append("[fields].started_at is required (or both ended_at and duration_ms)")
