"""Validation of HubSpot Engagements v1 request bodies, as the sandbox enforces it (pure code).

Rules come from HubSpot's create-engagement page and engagement overview: required `type` and
`metadata`, millisecond timestamps, the 65536-character note body, per-type metadata fields.
Every function returns a list of messages; an empty list means the body is acceptable.
"""

from __future__ import annotations

from typing import Any

ENGAGEMENT_TYPES = ("EMAIL", "CALL", "MEETING", "TASK", "NOTE")
CALL_STATUSES = (
    "COMPLETED", "BUSY", "NO_ANSWER", "FAILED", "CANCELED", "CONNECTING", "QUEUED", "RINGING",
    "IN_PROGRESS", "CALLING_CRM_USER",
)  # fmt: skip
TASK_STATUSES = ("NOT_STARTED", "COMPLETED", "IN_PROGRESS", "WAITING", "DEFERRED")
READ_ONLY_FIELDS = ("id", "portalId", "createdAt", "lastUpdated")
ASSOCIATION_KEYS = ("contactIds", "companyIds", "dealIds", "ownerIds", "ticketIds")
_ACCEPTED_ASSOCIATION_KEYS = (*ASSOCIATION_KEYS, "workflowIds")  # deprecated, ignored
PATCHABLE_FIELDS = ("timestamp", "ownerId", "active")
MAX_BODY_CHARS = 65_536
MIN_TIMESTAMP_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TIMESTAMP_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
# "Has no effect for engagements created through the API": HubSpot drops them on create.
DROPPED_METADATA = ("externalId", "externalAccountId")

_CALL_STRINGS = (
    "toNumber", "fromNumber", "status", "body", "recordingUrl", "title", "disposition",
    "externalId",
)  # fmt: skip
_MEETING_STRINGS = ("title", "body", "internalMeetingNotes")
_TASK_STRINGS = ("subject", "body", "status", "forObjectType")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_timestamp_ms(field: str, value: Any) -> list[str]:
    """A Unix time in milliseconds between 2000 and 2100 (catches seconds sent as ms)."""
    if not _is_int(value):
        return [f"{field} must be an integer Unix timestamp in milliseconds, got {value!r}"]
    if not MIN_TIMESTAMP_MS <= value < MAX_TIMESTAMP_MS:
        return [
            f"{field} {value} is not a millisecond timestamp between 2000 and 2100; "
            "send Unix time in milliseconds (seconds * 1000)"
        ]
    return []


def validate_create(body: Any) -> list[str]:
    """Messages for everything wrong with a POST /engagements/v1/engagements body."""
    if not isinstance(body, dict):
        return ["request body must be a JSON object with engagement, associations and metadata"]
    engagement = body.get("engagement")
    if not isinstance(engagement, dict):
        return ["engagement is required and must be an object with at least a type"]
    errors = [
        f"engagement.{f} is read-only and must not be sent"
        for f in READ_ONLY_FIELDS
        if f in engagement
    ]
    kind = engagement.get("type")
    if kind not in ENGAGEMENT_TYPES:
        errors.append(f"engagement.type must be one of {', '.join(ENGAGEMENT_TYPES)}, got {kind!r}")
    errors += _engagement_fields(engagement)
    errors += _associations(body.get("associations"))
    errors += _attachments(body.get("attachments"))
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        errors.append("metadata is required and must be an object (use {} when there is none)")
    elif kind in ENGAGEMENT_TYPES:
        errors += validate_metadata(kind, metadata)
    return errors


def _engagement_fields(engagement: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    if "timestamp" in engagement:
        errors += check_timestamp_ms("engagement.timestamp", engagement["timestamp"])
    owner = engagement.get("ownerId")
    if owner is not None and not _is_int(owner):
        errors.append(f"engagement.ownerId must be an integer owner id, got {owner!r}")
    if "active" in engagement and not isinstance(engagement["active"], bool):
        errors.append(f"engagement.active must be true or false, got {engagement['active']!r}")
    return errors


def _associations(associations: Any) -> list[str]:
    if associations is None:
        return []
    if not isinstance(associations, dict):
        return ["associations must be an object of id lists (contactIds, companyIds, ...)"]
    errors: list[str] = []
    for key, ids in associations.items():
        if key not in _ACCEPTED_ASSOCIATION_KEYS:
            errors.append(
                f"associations.{key} is unknown; use one of {', '.join(ASSOCIATION_KEYS)}"
            )
        elif not isinstance(ids, list) or not all(_is_int(i) for i in ids):
            errors.append(f"associations.{key} must be a list of integer ids, got {ids!r}")
    return errors


def _attachments(attachments: Any) -> list[str]:
    if attachments is None:
        return []
    ok = isinstance(attachments, list) and all(
        isinstance(a, dict) and _is_int(a.get("id")) for a in attachments
    )
    return [] if ok else ['attachments must be a list of {"id": <file id>} objects']


def validate_metadata(kind: str, metadata: dict[str, Any]) -> list[str]:
    """Per-type metadata rules (the body limit applies to every type)."""
    errors: list[str] = []
    body = metadata.get("body")
    if body is not None and not isinstance(body, str):
        errors.append(f"metadata.body must be a string, got {type(body).__name__}")
    elif isinstance(body, str) and len(body) > MAX_BODY_CHARS:
        errors.append(
            f"metadata.body has {len(body)} characters, more than the {MAX_BODY_CHARS} allowed;"
            " shorten it"
        )
    if kind == "CALL":
        errors += _strings(metadata, _CALL_STRINGS)
        errors += _enum(metadata, "status", CALL_STATUSES)
        duration = metadata.get("durationMilliseconds")
        if duration is not None and not _is_int(duration):
            errors.append(f"metadata.durationMilliseconds must be an integer, got {duration!r}")
    elif kind == "MEETING":
        errors += _strings(metadata, _MEETING_STRINGS)
        for field in ("startTime", "endTime"):
            if metadata.get(field) is not None:
                errors += check_timestamp_ms(f"metadata.{field}", metadata[field])
    elif kind == "TASK":
        errors += _strings(metadata, _TASK_STRINGS)
        errors += _enum(metadata, "status", TASK_STATUSES)
        errors += _enum(metadata, "forObjectType", ("CONTACT", "COMPANY"))
    return errors


def _strings(metadata: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    return [
        f"metadata.{f} must be a string, got {type(metadata[f]).__name__}"
        for f in fields
        if metadata.get(f) is not None and not isinstance(metadata[f], str)
    ]


def _enum(metadata: dict[str, Any], field: str, allowed: tuple[str, ...]) -> list[str]:
    value = metadata.get(field)
    if value is None or not isinstance(value, str) or value in allowed:
        return []
    return [f"metadata.{field} must be one of {', '.join(allowed)}, got {value!r}"]


def validate_patch(body: Any, current_type: str) -> list[str]:
    """Messages for a PATCH body: engagement fields and metadata only, never associations."""
    if not isinstance(body, dict):
        return ["request body must be a JSON object with engagement and/or metadata"]
    errors: list[str] = []
    if "associations" in body:
        errors.append(
            "associations cannot be updated with PATCH; use the associations endpoint instead"
        )
    engagement = body.get("engagement", {})
    if not isinstance(engagement, dict):
        return [*errors, "engagement must be an object"]
    for field, value in engagement.items():
        if field in READ_ONLY_FIELDS:
            errors.append(f"engagement.{field} is read-only and must not be sent")
        elif field == "type" and value != current_type:
            errors.append(f"engagement.type cannot change from {current_type} to {value!r}")
        elif field not in (*PATCHABLE_FIELDS, "type"):
            errors.append(
                f"engagement.{field} cannot be updated; use {', '.join(PATCHABLE_FIELDS)}"
            )
    errors += _engagement_fields(engagement)
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict):
        errors.append("metadata must be an object")
    return errors


def strip_dropped_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata HubSpot stores: without the fields it ignores for API-created engagements."""
    return {k: v for k, v in metadata.items() if k not in DROPPED_METADATA}
