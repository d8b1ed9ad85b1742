"""One object, two APIs: a v1 engagement row seen as a CRM call/meeting, and back (pure code).

The objects API and Engagements v1 share one table (v1_engagements) and one id per object
(docs/hubspot_objects.md A1). A property with a v1 home (hs_call_title <-> metadata.title,
hs_timestamp <-> engagement.timestamp, ...) lives there, so a v1 read shows an objects-API
update and the other way round; every other property (custom ones such as
engagement_sync_external_id, hs_call_direction) lives in the row's `properties` JSON column.
"""

from __future__ import annotations

from typing import Any

from .crm_schema import READ_ONLY, iso_ms, parse_datetime_ms

# property -> (v1 metadata field, kind); kind "int" is an integer, "ms" a datetime in ms.
METADATA_FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    "calls": {
        "hs_call_title": ("title", "str"),
        "hs_call_body": ("body", "str"),
        "hs_call_duration": ("durationMilliseconds", "int"),
        "hs_call_from_number": ("fromNumber", "str"),
        "hs_call_to_number": ("toNumber", "str"),
        "hs_call_status": ("status", "str"),
        "hs_call_recording_url": ("recordingUrl", "str"),
        "hs_call_disposition": ("disposition", "str"),
    },
    "meetings": {
        "hs_meeting_title": ("title", "str"),
        "hs_meeting_body": ("body", "str"),
        "hs_meeting_start_time": ("startTime", "ms"),
        "hs_meeting_end_time": ("endTime", "ms"),
        "hs_internal_meeting_notes": ("internalMeetingNotes", "str"),
        "hs_meeting_outcome": ("meetingOutcome", "str"),
    },
}


def properties_of(object_type: str, row: dict[str, Any]) -> dict[str, str]:
    """Every property value of a stored row, as the objects API returns them (strings)."""
    out: dict[str, str] = {}
    metadata = row["metadata"]
    for name, (field, kind) in METADATA_FIELDS[object_type].items():
        value = metadata.get(field)
        if value is None:
            continue
        is_ms = kind == "ms" and isinstance(value, int) and not isinstance(value, bool)
        out[name] = iso_ms(value) if is_ms else str(value)
    out["hs_timestamp"] = iso_ms(row["timestamp"])
    if row["owner_id"] is not None:
        out["hubspot_owner_id"] = str(row["owner_id"])
    out.update(row.get("properties") or {})
    out["hs_object_id"] = str(row["id"])
    out["hs_createdate"] = iso_ms(row["created_at"])
    out["hs_lastmodifieddate"] = iso_ms(row["last_updated"])
    return out


def new_row(
    object_type: str,
    portal: int,
    properties: dict[str, str],
    associations: dict[str, list[int]],
    now_ms: int,
) -> dict[str, Any]:
    """The v1_engagements row of an object created through the objects API (no id yet)."""
    row: dict[str, Any] = {
        "portal_id": portal,
        "type": "CALL" if object_type == "calls" else "MEETING",
        "timestamp": now_ms,
        "owner_id": None,
        "active": True,
        "created_at": now_ms,
        "last_updated": now_ms,
        "associations": {**associations, "ownerIds": [], "ticketIds": []},
        "attachments": [],
        "metadata": {},
        "properties": {},
    }
    start = properties.get("hs_meeting_start_time")
    if object_type == "meetings" and not properties.get("hs_timestamp") and start:
        properties = {**properties, "hs_timestamp": start}  # note 4.2: defaults to start time
    return apply_properties(object_type, row, properties, now_ms)


def apply_properties(
    object_type: str, row: dict[str, Any], properties: dict[str, str], now_ms: int
) -> dict[str, Any]:
    """row with validated property values written to their homes; "" clears a value."""
    out = {**row, "metadata": dict(row["metadata"]), "properties": dict(row["properties"])}
    fields = METADATA_FIELDS[object_type]
    for name, value in properties.items():
        if name in READ_ONLY:
            continue  # computed by the server (hs_object_id, hs_createdate, ...)
        home = _v1_value(name, value, fields)
        if home is None:
            _set(out["properties"], name, value)
        else:
            out["properties"].pop(name, None)
            column, field, converted = home
            if column == "metadata":
                _set(out["metadata"], field, converted)
            else:
                out[column] = converted
    out["last_updated"] = max(now_ms, row["last_updated"] + 1) if "id" in row else now_ms
    return out


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None or value == "":
        target.pop(key, None)
    else:
        target[key] = value


def _v1_value(
    name: str, value: str, fields: dict[str, tuple[str, str]]
) -> tuple[str, str, Any] | None:
    """(column, metadata field, value) of a property with a v1 home, or None (JSON column)."""
    if name == "hs_timestamp":
        ms = parse_datetime_ms(value)
        return None if ms is None else ("timestamp", "", ms)
    if name == "hubspot_owner_id":
        if value == "":
            return ("owner_id", "", None)
        return ("owner_id", "", int(value)) if value.isdigit() else None
    if name not in fields:
        return None
    field, kind = fields[name]
    if value == "" or kind == "str":
        return ("metadata", field, value)
    if kind == "int":
        return ("metadata", field, int(value)) if value.isdigit() else None
    ms = parse_datetime_ms(value)
    return None if ms is None else ("metadata", field, ms)
