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

from sources.engagements import titles
from sources.engagements.media_access import classify as classify_access
from sources.engagements.media_url import canonical_url, check_media_url
from sources.engagements.model import CanonicalRecord
from sources.engagements.settings import BuildSettings, disposition_key
from sources.engagements.wire import content_hash

V1_BODY_LIMIT = 65_536
V2_TITLE_LIMIT = 500
V2_SOURCE_SYSTEM_LIMIT = 100
V2_EXTERNAL_ID_LIMIT = 500
V2_TRANSCRIPT_CHARS = 900_000
V2_TRANSCRIPT_BYTES = 950_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_2000 = 946_684_800_000
_MS_2100 = 4_102_444_800_000
MAX_DURATION_MS = 7 * 24 * 3_600_000  # a call or meeting longer than a week is a unit slip
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

_HUBSPOT_CALL_STATUS = {
    "completed": "COMPLETED",
    "busy": "BUSY",
    "no_answer": "NO_ANSWER",
    "failed": "FAILED",
    "canceled": "CANCELED",
    "missed": "NO_ANSWER",
    "voicemail": "COMPLETED",
    "in_progress": "IN_PROGRESS",
}


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


def _ms_problem(target: str, name: str, ms: int | None) -> Rejection | None:
    if ms is not None and not _MS_2000 <= ms < _MS_2100:
        return Rejection(
            target,
            "timestamp_out_of_range",
            name,
            f"{name}={ms} is not a time between 2000 and 2100 in ms (policy)",
        )
    return None


def duration_problem(target: str | None, ms: int | None) -> Rejection | None:
    """A negative duration, or one over a week (policy): a unit slip or a corrupt value."""
    if ms is not None and not 0 <= ms <= MAX_DURATION_MS:
        return Rejection(
            target,
            "bad_duration",
            "duration_ms",
            f"duration_ms={ms} is not between 0 and {MAX_DURATION_MS} (7 days, policy); "
            "check the duration column's unit",
        )
    return None


def build_v1_request(record: CanonicalRecord, settings: BuildSettings) -> BuiltRequest | Rejection:
    """HubSpot Engagements v1 `{engagement, associations, metadata}` for a CALL or MEETING."""
    start_ms = to_ms(record.get("started_at"))
    if start_ms is None:
        return Rejection("v1", "bad_timestamp", "started_at", "the record has no start time")
    end_ms = to_ms(record.get("ended_at"))
    for name, ms in (("timestamp", start_ms), ("endTime", end_ms)):
        if problem := _ms_problem("v1", name, ms):
            return problem
    if problem := duration_problem("v1", record.get("duration_ms")):
        return problem
    contacts = list(record.get("contact_ids") or []) or _mapped_contacts(record, settings)
    if not contacts and not settings.allow_unassociated:
        return Rejection(
            "v1",
            "no_contact",
            "contact_ids",
            "no contact matches the record's phones or emails; add it to the "
            "contact map or set allow_unassociated = true",
        )
    warnings: list[str] = []
    body_text = record.get("body") or ""
    if len(body_text) > V1_BODY_LIMIT:
        body_text = body_text[:V1_BODY_LIMIT]
        warnings.append("body_truncated")
    engagement: dict[str, Any] = {
        "active": True,
        "type": "CALL" if record["kind"] == "call" else "MEETING",
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
        "status": _HUBSPOT_CALL_STATUS.get(record.get("status") or ""),
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
    if len(external_id) > V2_EXTERNAL_ID_LIMIT:
        return Rejection(
            "v2",
            "external_id_too_long",
            "external_id",
            f"external_id has {len(external_id)} characters (limit 500)",
        )
    # The targets agree on what time is valid: a start v1 refuses never reaches v2 either.
    if out_of_range := _ms_problem("v2", "start_at", to_ms(record.get("started_at"))):
        return out_of_range
    media_url = record.get("recording_url")
    if not media_url:
        return Rejection(
            "v2",
            "no_media_url",
            "recording_url",
            "the record has no recording; v2 creates engagements from media",
        )
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
        "type": "CALL" if record["kind"] == "call" else "MEETING",
        "title": titles.cut_on_word(titles.title_for(record), V2_TITLE_LIMIT),
        "source_system": settings.source_system[:V2_SOURCE_SYSTEM_LIMIT],
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
    if len(text) <= V2_TRANSCRIPT_CHARS and len(text.encode()) <= V2_TRANSCRIPT_BYTES:
        return text
    if not settings.truncate_transcripts:
        return Rejection(
            "v2",
            "transcript_too_long",
            "transcript_text",
            f"transcript has {len(text)} characters / {len(text.encode())} bytes "
            "(limits 900,000 / 950,000); set truncate_transcripts = true to cut it",
        )
    cut = text[:V2_TRANSCRIPT_CHARS]
    data = cut.encode()[:V2_TRANSCRIPT_BYTES]
    warnings.append("transcript_truncated")
    return data.decode("utf-8", errors="ignore")  # drops a split last character, never garbles
