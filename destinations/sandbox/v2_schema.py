"""Validation of AskElephant POST /v2/engagements bodies, as the sandbox enforces it (pure code).

Two passes, because the API answers them differently: the shape (JSON types, unknown fields,
date-time format) fails with 400; the values (required fields, enums, lengths, media_url rules,
E.164 phones, one owner, transcript size) fail with 422.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .media import check_media_url
from .responses import FieldError

ENGAGEMENT_TYPES = ("CALL", "MEETING")
REQUIRED_FIELDS = ("type", "title", "source_system", "external_id", "media_url", "run_workflows")
OPTIONAL_FIELDS = ("start_at", "is_private", "participants", "transcript_text")
_STRING_FIELDS = ("type", "title", "source_system", "external_id", "media_url", "start_at")
_BOOL_FIELDS = ("run_workflows", "is_private")
LENGTH_LIMITS = {"title": 500, "source_system": 100, "external_id": 500}
PARTICIPANT_STRINGS = ("name", "first_name", "last_name", "email", "phone")
PARTICIPANT_FIELDS = (*PARTICIPANT_STRINGS, "is_owner")
E164 = re.compile(r"\+[1-9][0-9]{1,14}")  # [0-9]: \d also matches non-ASCII digits
MAX_TRANSCRIPT_CHARS = 900_000
MAX_TRANSCRIPT_BYTES = 950_000


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 date-time that carries a UTC offset or Z; raises ValueError otherwise."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{value!r} has no UTC offset; add Z or +HH:MM")
    try:
        parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{value!r} is out of range") from exc
    return parsed


def iso_utc(moment: datetime) -> str:
    """The API's timestamp form: UTC, millisecond precision, Z suffix (sorts lexically)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def validate_create(body: Any, allow_loopback: bool = False) -> tuple[int, list[FieldError]]:
    """(status, errors) for a create body; status is 400, 422, or 0 when the body is valid."""
    if not isinstance(body, dict):
        return 400, [FieldError("", "invalid_body", "request body must be a JSON object")]
    errors = shape_errors(body)
    if errors:
        return 400, errors
    errors = value_errors(body, allow_loopback)
    return (422, errors) if errors else (0, [])


def shape_errors(body: dict[str, Any]) -> list[FieldError]:
    """Unknown fields, wrong JSON types and malformed date-times (400 problems)."""
    known = (*REQUIRED_FIELDS, *OPTIONAL_FIELDS)
    errors = [
        FieldError(k, "unknown_field", f"{k} is not a field of engagement_create_request")
        for k in body
        if k not in known
    ]
    for field in _STRING_FIELDS:
        if field in body and not isinstance(body[field], str):
            errors.append(_wrong_type(field, "a string", body[field]))
    for field in _BOOL_FIELDS:
        if field in body and not isinstance(body[field], bool):
            errors.append(_wrong_type(field, "true or false", body[field]))
    if "transcript_text" in body and not isinstance(body["transcript_text"], str):
        errors.append(_wrong_type("transcript_text", "a string", body["transcript_text"]))
    if isinstance(body.get("start_at"), str):
        try:
            parse_datetime(body["start_at"])
        except ValueError as exc:
            errors.append(
                FieldError("start_at", "invalid_datetime", f"start_at must be ISO 8601: {exc}")
            )
    if "participants" in body:
        errors += _participant_shape(body["participants"])
    return errors


def _wrong_type(field: str, expected: str, value: Any) -> FieldError:
    got = "null" if value is None else type(value).__name__
    return FieldError(field, "invalid_type", f"{field} must be {expected}, got {got}")


def _participant_shape(participants: Any) -> list[FieldError]:
    if not isinstance(participants, list):
        return [_wrong_type("participants", "an array of objects", participants)]
    errors: list[FieldError] = []
    for i, person in enumerate(participants):
        where = f"participants[{i}]"
        if not isinstance(person, dict):
            errors.append(_wrong_type(where, "an object", person))
            continue
        for key, value in person.items():
            if key not in PARTICIPANT_FIELDS:
                errors.append(
                    FieldError(f"{where}.{key}", "unknown_field", f"{where}.{key} is not allowed")
                )
            elif key == "is_owner" and not isinstance(value, bool):
                errors.append(_wrong_type(f"{where}.is_owner", "true or false", value))
            elif key != "is_owner" and not isinstance(value, str):
                errors.append(_wrong_type(f"{where}.{key}", "a string", value))
    return errors


def value_errors(body: dict[str, Any], allow_loopback: bool) -> list[FieldError]:
    """Missing fields, enum and length rules, media_url, phones, owners, transcript (422)."""
    errors = [
        FieldError(f, "missing_field", f"{f} is required") for f in REQUIRED_FIELDS if f not in body
    ]
    kind = body.get("type")
    if kind is not None and kind not in ENGAGEMENT_TYPES:
        errors.append(
            FieldError("type", "invalid_enum", f"type must be CALL or MEETING, got {kind!r}")
        )
    for field, limit in LENGTH_LIMITS.items():
        value = body.get(field)
        if value is not None and not 1 <= len(value) <= limit:
            errors.append(
                FieldError(field, "invalid_length", f"{field} must have 1 to {limit} characters")
            )
    if "media_url" in body:
        rejection = check_media_url(body["media_url"], allow_loopback=allow_loopback)
        if rejection is not None:
            errors.append(FieldError("media_url", rejection.code, rejection.message))
    errors += _participant_values(body.get("participants", []))
    errors += _transcript_errors(body.get("transcript_text"))
    return errors


def _participant_values(participants: list[dict[str, Any]]) -> list[FieldError]:
    errors = [
        FieldError(
            f"participants[{i}].phone",
            "invalid_phone",
            f"participants[{i}].phone must be E.164 like +14155552671",
        )
        for i, person in enumerate(participants)
        if "phone" in person and not E164.fullmatch(person["phone"])
    ]
    owners = sum(1 for person in participants if person.get("is_owner") is True)
    if owners > 1:
        errors.append(
            FieldError(
                "participants",
                "multiple_owners",
                f"{owners} participants have is_owner true; mark at most one as owner",
            )
        )
    return errors


def _transcript_errors(text: str | None) -> list[FieldError]:
    if text is None:
        return []
    size = len(text.encode("utf-8"))
    if len(text) <= MAX_TRANSCRIPT_CHARS and size <= MAX_TRANSCRIPT_BYTES:
        return []
    return [
        FieldError(
            "transcript_text",
            "transcript_too_long",
            f"transcript_text has {len(text)} characters and {size} UTF-8 bytes; the limits are "
            f"{MAX_TRANSCRIPT_CHARS} characters and {MAX_TRANSCRIPT_BYTES} bytes",
        )
    ]
