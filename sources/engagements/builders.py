"""Canonical record -> v1 request body or v2 create request, or the reasons it cannot be sent.

Pure functions. Each returns a BuiltRequest (body, content hash, warnings) or a Rejection naming
the reason code (reasons.py), the field and the fix. v2 bodies hold exactly the fields of the
seed's `engagement_create_request` except `run_workflows`, a per-run send option added at send
time (DESIGN invariant 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sources.engagements import rules, titles
from sources.engagements.media_access import classify as classify_access
from sources.engagements.media_url import canonical_url, check_media_url
from sources.engagements.model import CanonicalRecord
from sources.engagements.rules import V1, V2, Check
from sources.engagements.settings import BuildSettings, disposition_key
from sources.engagements.wire import content_hash

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


@dataclass(frozen=True)
class Rejection:
    target: str | None
    reason: str
    field: str
    message: str


@dataclass(frozen=True)
class BuiltRequest:
    external_id: str
    body: dict[str, Any]
    content_hash: str
    warnings: tuple[str, ...] = field(default=())


def to_ms(value: datetime | None) -> int | None:
    """Unix milliseconds, in integer arithmetic (float timestamps round 1 ms off at times)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(milliseconds=1)


def _refused(target: str, checks: tuple[Check, ...], values: dict[str, Any]) -> Rejection | None:
    """The rejection of the first of the target's checks (rules.py) the values fail."""
    if (check := rules.first_failed(checks, values)) is None:
        return None
    return Rejection(target, check.reason, check.field, check.message.text(values))


def build_v1_request(record: CanonicalRecord, settings: BuildSettings) -> BuiltRequest | Rejection:
    """HubSpot Engagements v1 `{engagement, associations, metadata}` for a CALL or MEETING."""
    start_ms = to_ms(record.get("started_at"))
    end_ms = to_ms(record.get("ended_at"))
    contacts = list(record.get("contact_ids") or []) or _mapped_contacts(record, settings)
    values = {
        "start_ms": start_ms,
        "end_ms": end_ms,
        "duration_ms": record.get("duration_ms"),
        "unassociated": not contacts and not settings.allow_unassociated,
    }
    if refused := _refused("v1", V1.checks, values):
        return refused
    warnings: list[str] = []
    body_text = record.get("body") or ""
    if len(body_text) > rules.V1_BODY_LIMIT:
        body_text = body_text[: rules.V1_BODY_LIMIT]
        warnings.append("body_truncated")
    engagement: dict[str, Any] = {
        "active": True,
        "type": V1.engagement_type.get(record["kind"]),
        "timestamp": start_ms,
    }
    owner_id = settings.owners.lookup(record.get("owner_email"))
    if owner_id is not None:
        engagement["ownerId"] = owner_id
    if record["kind"] == "call":
        metadata = _v1_call_metadata(record, settings, body_text, warnings)
    else:
        metadata = {
            "title": titles.title_for(record),
            "body": body_text,
            "startTime": start_ms,
            "endTime": end_ms,
        }
    body = {
        "engagement": engagement,
        "associations": {
            "contactIds": contacts,
            "companyIds": list(record.get("company_ids") or []),
            "dealIds": list(record.get("deal_ids") or []),
        },
        "metadata": {k: v for k, v in metadata.items() if v is not None},
    }
    return BuiltRequest(record["external_id"], body, content_hash(body), tuple(warnings))


def call_outcome(value: str | None, settings: BuildSettings, warnings: list[str]) -> str | None:
    """HubSpot's Call Outcome GUID for a disposition: a GUID as is, a name through the map;
    an unknown name is left out (with a warning), never sent as a GUID it is not."""
    if not value:
        return None
    if _GUID.match(value):
        return value
    mapped = settings.dispositions.get(value) or settings.dispositions.get(disposition_key(value))
    if mapped is None:
        warnings.append("disposition_unmapped")
    return mapped


def _v1_call_metadata(
    record: CanonicalRecord, settings: BuildSettings, body_text: str, warnings: list[str]
) -> dict[str, Any]:
    return {
        # v1 numbers are free text: keep the raw number when it is not valid E.164.
        "toNumber": record.get("to_phone") or record.get("to_phone_raw"),
        "fromNumber": record.get("from_phone") or record.get("from_phone_raw"),
        "status": V1.call_status.get(record.get("status")),
        "durationMilliseconds": record.get("duration_ms"),
        "recordingUrl": record.get("recording_url"),
        "body": body_text,
        "title": titles.title_for(record),
        "disposition": call_outcome(record.get("disposition"), settings, warnings),
        "externalId": record["external_id"],
    }


def _mapped_contacts(record: CanonicalRecord, settings: BuildSettings) -> list[int]:
    parties = record.get("participants") or []
    phones = [titles.counterpart_phone(record), record.get("from_phone"), record.get("to_phone")]
    phones += [p.get("phone") for p in parties]
    return settings.contacts.lookup(phones, [p.get("email") for p in parties])


def build_v2_request(record: CanonicalRecord, settings: BuildSettings) -> BuiltRequest | Rejection:
    """AskElephant `engagement_create_request`, without the per-run `run_workflows`."""
    external_id = record["external_id"]
    media_url = record.get("recording_url")
    values = {
        "external_id_chars": len(external_id),
        "start_ms": to_ms(record.get("started_at")),
        "recording_url": media_url,
    }
    if refused := _refused("v2", V2.checks, values):
        return refused
    assert media_url  # for mypy: the no_media_url check refuses an empty one
    # Checked, classified and sent in one form: the canonical one (issue 12).
    if problem := check_media_url(media_url, settings.resolve, settings.allow_loopback_media):
        return Rejection("v2", problem.code, "recording_url", problem.message)
    media_url = canonical_url(media_url)
    if media_url is None:  # unreachable: check_media_url refuses such URLs
        return Rejection("v2", "media_url_invalid", "recording_url", "media_url is not a URI")
    if refused := _access_problem(media_url, settings):
        return refused
    warnings: list[str] = []
    body: dict[str, Any] = {
        "type": V2.engagement_type.get(record["kind"]),
        "title": titles.cut_on_word(titles.title_for(record), rules.V2_TITLE_LIMIT),
        "source_system": settings.source_system[: rules.V2_SOURCE_SYSTEM_LIMIT],
        "external_id": external_id,
        "media_url": media_url,
    }
    started = record.get("started_at")
    if started is not None:
        aware = started if started.tzinfo else started.replace(tzinfo=UTC)  # naive = UTC
        body["start_at"] = aware.astimezone(UTC).isoformat()
    if settings.is_private is not None:
        body["is_private"] = settings.is_private
    participants = titles.v2_participants(record, warnings)
    if participants:
        body["participants"] = participants
    transcript = record.get("transcript_text")
    if transcript:
        transcript_or_rejection = _fit_transcript(transcript, settings, warnings)
        if isinstance(transcript_or_rejection, Rejection):
            return transcript_or_rejection
        body["transcript_text"] = transcript_or_rejection
    return BuiltRequest(external_id, body, content_hash(body), tuple(warnings))


def _access_problem(url: str, settings: BuildSettings) -> Rejection | None:
    """A recording the API cannot fetch by itself, when no relay re-hosts it. A relay downloads
    with the source's API credentials, so links that need a dashboard login stay refused."""
    access = classify_access(url)
    if settings.relay and access.scheme == "login":
        return Rejection(
            "v2",
            "media_url_needs_auth",
            "recording_url",
            "the recording link needs a dashboard login that no API credential gives, not even "
            "to the relay; export the calls' `recording` links instead (the relay re-hosts them)",
        )
    if settings.relay:
        return None
    if access.kind == "needs_auth":
        return Rejection(
            "v2",
            "media_url_needs_auth",
            "recording_url",
            f"the recording needs the source's {access.scheme} credentials to "
            "download; the API fetches it anonymously (make recordings public, or "
            "configure a relay)",
        )
    if (
        access.expires_at is not None
        and settings.now is not None
        and access.expires_at <= settings.now
    ):
        return Rejection(
            "v2",
            "media_url_expired",
            "recording_url",
            f"the recording link expired at {access.expires_at.isoformat()}; export "
            "the recordings again and sync promptly, or configure a relay",
        )
    return None


def _fit_transcript(text: str, settings: BuildSettings, warnings: list[str]) -> str | Rejection:
    chars, size = rules.V2_TRANSCRIPT_CHARS, rules.V2_TRANSCRIPT_BYTES
    if len(text) <= chars and len(text.encode()) <= size:
        return text
    if not settings.truncate_transcripts:
        values = {"chars": len(text), "bytes": len(text.encode())}
        message = rules.TRANSCRIPT_TOO_LONG.text(values)
        return Rejection("v2", "transcript_too_long", "transcript_text", message)
    data = text[:chars].encode()[:size]
    warnings.append("transcript_truncated")
    return data.decode("utf-8", errors="ignore")  # drops a split last character, never garbles
