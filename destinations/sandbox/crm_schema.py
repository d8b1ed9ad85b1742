"""What the CRM objects API (calls, meetings) accepts, as the sandbox enforces it (pure code).

Every rule here is one docs/hubspot_objects.md states; the section is named beside it. Functions
return HubSpot `ErrorDetail` dicts ({message, code?, context}); an empty list means acceptable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .v1_schema import CALL_STATUSES

OBJECT_TYPES = {"calls": "CALL", "meetings": "MEETING"}
"""Objects API type -> the v1 engagement type stored for it (same objects, note A1)."""
ASSOCIATION_TYPE_IDS: dict[str, dict[int, str]] = {
    "calls": {194: "contactIds", 182: "companyIds", 206: "dealIds"},
    "meetings": {200: "contactIds", 188: "companyIds", 212: "dealIds"},
}
"""HUBSPOT_DEFINED association type id -> the v1 association list it fills (note section 5)."""
ASSOCIATION_CATEGORIES = ("HUBSPOT_DEFINED", "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK")
MAX_BATCH_INPUTS = 100  # note 3.1
MAX_STRING_CHARS = 65_536  # note 3.6, 4.3, A17
MAX_UNIQUE_PROPERTIES = 10  # note 3.6
CALL_DIRECTIONS = ("INBOUND", "OUTBOUND")  # note 4.1
CALL_DISPOSITIONS = (
    "9d9162e7-6cf3-4944-bf63-4dff82258764", "f240bbac-87c9-4f6e-bf70-924b57d47db7",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff", "b2cf5968-551e-4856-9783-52b3da59a7d0",
    "73a0d17f-1163-4015-bdd5-ec830791da20", "17b47fee-58de-441e-a44c-c6300d46f273",
)  # fmt: skip
MEETING_OUTCOMES = ("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")  # note 4.2
DEFAULT_PROPERTIES = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")  # note 3.5
READ_ONLY = frozenset(DEFAULT_PROPERTIES)
PROPERTY_TYPES = ("bool", "date", "datetime", "enumeration", "number", "phone_number", "string")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _prop(name: str, kind: str, field: str, group: str, options: tuple[str, ...] = ()) -> dict:
    """A built-in property definition in the `Property` shape of the properties API."""
    return {
        "name": name, "label": name, "type": kind, "fieldType": field, "groupName": group,
        "hasUniqueValue": False, "hidden": False, "calculated": False, "externalOptions": False,
        "formField": False, "description": "", "displayOrder": -1,
        "modificationMetadata": {"archivable": False, "readOnlyDefinition": True,
                                 "readOnlyValue": name in READ_ONLY},
        "options": [{"label": o, "value": o, "hidden": False, "displayOrder": i}
                    for i, o in enumerate(options)],
    }  # fmt: skip


def _common(group: str) -> list[dict]:
    return [
        _prop("hs_timestamp", "datetime", "date", group),
        _prop("hubspot_owner_id", "enumeration", "select", group),
        _prop("hs_object_id", "number", "number", group),
        _prop("hs_createdate", "datetime", "date", group),
        _prop("hs_lastmodifieddate", "datetime", "date", group),
    ]


# Built-in properties: those of note sections 4.1 and 4.2 plus the defaults of 3.5. Group
# names are the sandbox's own (the note records none); hs_call_disposition holds a GUID.
BUILTIN_PROPERTIES: dict[str, list[dict]] = {
    "calls": [
        *_common("callinformation"),
        *(_prop(n, "string", "text", "callinformation") for n in (
            "hs_call_title", "hs_call_from_number", "hs_call_to_number",
            "hs_call_recording_url", "hs_call_disposition",
        )),
        _prop("hs_call_body", "string", "html", "callinformation"),
        _prop("hs_call_direction", "enumeration", "select", "callinformation", CALL_DIRECTIONS),
        _prop("hs_call_status", "enumeration", "select", "callinformation", CALL_STATUSES),
        _prop("hs_call_duration", "number", "number", "callinformation"),
    ],
    "meetings": [
        *_common("meetinginformation"),
        *(_prop(n, "string", "text", "meetinginformation") for n in (
            "hs_meeting_title", "hs_meeting_external_url", "hs_meeting_location",
        )),
        _prop("hs_meeting_body", "string", "html", "meetinginformation"),
        _prop("hs_internal_meeting_notes", "string", "html", "meetinginformation"),
        _prop("hs_meeting_start_time", "datetime", "date", "meetinginformation"),
        _prop("hs_meeting_end_time", "datetime", "date", "meetinginformation"),
        _prop("hs_meeting_outcome", "enumeration", "select", "meetinginformation",
              MEETING_OUTCOMES),
    ],
}  # fmt: skip
BUILTIN_GROUPS = {
    "calls": {"name": "callinformation", "label": "Call information", "displayOrder": -1},
    "meetings": {"name": "meetinginformation", "label": "Meeting information", "displayOrder": -1},
}


def detail(name: str, message: str, code: str | None = None) -> dict[str, Any]:
    """One `ErrorDetail` about a property (note 3.4: message required, the rest optional)."""
    out: dict[str, Any] = {"message": message, "context": {"propertyName": [name]}}
    if code is not None:
        out["code"] = code
    return out


def parse_datetime_ms(value: str) -> int | None:
    """Unix milliseconds of a datetime value: ms digits or ISO 8601 (note 4.1); else None."""
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def iso_ms(ms: int) -> str:
    """ISO 8601 with milliseconds and Z, the form responses use (note 4.1, 3.2)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def validate_properties(
    object_type: str,
    properties: Any,
    definitions: dict[str, dict],
    allowed: dict[str, tuple[str, ...]],
    creating: bool,
) -> list[dict[str, Any]]:
    """Problems of one input's `properties`; `allowed` adds portal-defined enum values (A18)."""
    if not isinstance(properties, dict):
        return [detail("properties", "properties is required and must be an object")]
    errors: list[dict[str, Any]] = []
    for name, value in properties.items():
        definition = definitions.get(name)
        if definition is None:  # note 3.4, PROPERTY_DOESNT_EXIST
            errors.append(
                detail(name, f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST")
            )
        elif not isinstance(value, str):  # note 3.1: all property values are strings
            errors.append(detail(name, f"{name} must be a string value, got {value!r}"))
        else:
            errors += _check_value(name, value, definition, allowed.get(name, ()))
    if not _has(properties, "hs_timestamp"):
        # note 4.1 "Required"; 4.2: for meetings it defaults to hs_meeting_start_time.
        fallback = object_type == "meetings" and _has(properties, "hs_meeting_start_time")
        if (creating and not fallback) or "hs_timestamp" in properties:
            errors.append(detail("hs_timestamp", "hs_timestamp is required (ms or ISO 8601)"))
    return errors


def _has(properties: dict[str, Any], name: str) -> bool:
    return isinstance(properties.get(name), str) and properties[name] != ""


def _check_value(name: str, value: str, definition: dict, extra: tuple[str, ...]) -> list[dict]:
    if len(value) > MAX_STRING_CHARS:  # note 4.3 / A17
        return [detail(name, f"{name} has {len(value)} characters, more than {MAX_STRING_CHARS}")]
    if value == "" or name in READ_ONLY:
        return []
    kind = definition["type"]
    if kind in ("datetime", "date") and parse_datetime_ms(value) is None:  # note 4.1
        return [detail(name, f"{name} must be Unix milliseconds or ISO 8601, got {value!r}")]
    if kind == "number" and not _NUMBER.fullmatch(value):  # note 4.1 duration in milliseconds
        return [detail(name, f"{name} must be a number, got {value!r}")]
    if kind == "bool" and value not in ("true", "false"):  # note 3.6 type bool
        return [detail(name, f"{name} must be true or false, got {value!r}")]
    options = tuple(o["value"] for o in definition.get("options", [])) + extra
    if kind == "enumeration" and options and value not in options:  # note 4.1, 4.2, A18
        return [detail(name, f"{name} must be one of {', '.join(options)}, got {value!r}")]
    if name == "hs_call_disposition" and value not in (*CALL_DISPOSITIONS, *extra):  # 4.1
        return [detail(name, f"{name} must be a disposition GUID of the portal, got {value!r}")]
    if name == "hs_call_recording_url" and not value.startswith("https://"):  # note 4.1
        return [detail(name, f"{name} must be an https:// URL (only HTTPS URLs are accepted)")]
    return []


def validate_associations(object_type: str, associations: Any, missing: tuple[str, ...]) -> list:
    """Problems of one create input's `associations` (note 3.1, section 5, section 11)."""
    if not isinstance(associations, list):
        return [detail("associations", "associations is required and must be a list")]
    known = ASSOCIATION_TYPE_IDS[object_type]
    errors: list[dict[str, Any]] = []
    for item in associations:
        to = item.get("to") if isinstance(item, dict) else None
        types = item.get("types") if isinstance(item, dict) else None
        target = to.get("id") if isinstance(to, dict) else None
        if not isinstance(target, str) or not target.isdigit() or not isinstance(types, list):
            errors.append(detail("associations", f"association {item!r} needs to.id and types"))
            continue
        if target in missing:
            errors.append(detail("associations", f"object {target} to associate does not exist"))
        for spec in types:
            ok = isinstance(spec, dict) and spec.get("associationCategory") == "HUBSPOT_DEFINED"
            if not ok or spec.get("associationTypeId") not in known:
                ids = ", ".join(str(i) for i in known)
                errors.append(
                    detail("associations", f"{spec!r}: use HUBSPOT_DEFINED type ids {ids}")
                )
    return errors


def association_lists(object_type: str, associations: list[dict]) -> dict[str, list[int]]:
    """Valid inline associations as v1 id lists (contactIds, companyIds, dealIds)."""
    known = ASSOCIATION_TYPE_IDS[object_type]
    lists: dict[str, list[int]] = {"contactIds": [], "companyIds": [], "dealIds": []}
    for item in associations:
        for spec in item["types"]:
            key = known[spec["associationTypeId"]]
            if int(item["to"]["id"]) not in lists[key]:
                lists[key].append(int(item["to"]["id"]))
    return lists
