"""v1 request bodies: exactly the HubSpot Engagements v1 shapes of seeds 000 / 001."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sources.engagements.builders import BuiltRequest, Rejection, build_v1_request
from sources.engagements.maps import ContactIndex, OwnerIndex
from sources.engagements.reasons import REASONS
from sources.engagements.settings import HUBSPOT_DEFAULT_DISPOSITIONS, BuildSettings
from sources.engagements.wire import content_hash

START = datetime(2024, 4, 15, 14, 0, tzinfo=UTC)
START_MS = 1_713_189_600_000
OPEN = BuildSettings(source_system="twilio", allow_unassociated=True)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Seed 001: writable engagement fields (id, portalId, createdAt, lastUpdated are read-only).
ENGAGEMENT_TYPES = {"active": bool, "type": str, "timestamp": int, "ownerId": int}
ASSOCIATION_KEYS = {"contactIds", "companyIds", "dealIds"}
# Seeds 000 / 001: CALL and MEETING metadata, with their types.
CALL_TYPES = {
    "toNumber": str,
    "fromNumber": str,
    "status": str,
    "durationMilliseconds": int,
    "recordingUrl": str,
    "body": str,
    "title": str,
    "disposition": str,
    "externalId": str,
}
MEETING_TYPES = {
    "title": str,
    "body": str,
    "startTime": int,
    "endTime": int,
    "internalMeetingNotes": str,
}
CALL_STATUSES = {"COMPLETED", "NO_ANSWER", "BUSY", "FAILED", "CANCELED"}


def call(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "external_id": "twilio:CA1",
        "source_system": "twilio",
        "source_id": "CA1",
        "kind": "call",
        "started_at": START,
        "ended_at": START + timedelta(seconds=38),
        "duration_ms": 38_000,
        "direction": "outbound",
        "status": "completed",
        "from_phone": "+14155550100",
        "to_phone": "+14155552671",
        "from_phone_raw": "+14155550100",
        "to_phone_raw": "+14155552671",
        "recording_url": "https://media.example.com/rec/CA1.mp3",
        "contact_ids": [2],
    }
    record.update(overrides)
    return record


def meeting(**overrides: Any) -> dict[str, Any]:
    record = call(
        kind="meeting",
        title="Quarterly review",
        body="Agenda",
        ended_at=START + timedelta(hours=1),
        duration_ms=None,
        status=None,
        direction=None,
    )
    record.update(overrides)
    return record


def built(record: dict[str, Any], settings: BuildSettings = OPEN) -> BuiltRequest:
    result = build_v1_request(record, settings)  # type: ignore[arg-type]
    assert isinstance(result, BuiltRequest), result
    return result


def assert_seed_shape(body: dict[str, Any]) -> None:
    assert set(body) == {"engagement", "associations", "metadata"}
    engagement, associations, metadata = body["engagement"], body["associations"], body["metadata"]
    assert {"active", "type", "timestamp"} <= set(engagement) <= set(ENGAGEMENT_TYPES)
    for key, value in engagement.items():
        assert type(value) is ENGAGEMENT_TYPES[key], key
    assert set(associations) == ASSOCIATION_KEYS
    for ids in associations.values():
        assert isinstance(ids, list) and all(type(i) is int for i in ids)
    allowed = CALL_TYPES if engagement["type"] == "CALL" else MEETING_TYPES
    assert engagement["type"] in {"CALL", "MEETING"}
    assert set(metadata) <= set(allowed)
    for key, value in metadata.items():
        assert type(value) is allowed[key], key
    if "status" in metadata:
        assert metadata["status"] in CALL_STATUSES


def test_call_body_matches_the_seed() -> None:
    result = built(call(title="Call with Test", body="notes", disposition="connected"))
    assert_seed_shape(result.body)
    assert result.body == {
        "engagement": {"active": True, "type": "CALL", "timestamp": START_MS},
        "associations": {"contactIds": [2], "companyIds": [], "dealIds": []},
        "metadata": {
            "toNumber": "+14155552671",
            "fromNumber": "+14155550100",
            "status": "COMPLETED",
            "durationMilliseconds": 38_000,
            "recordingUrl": "https://media.example.com/rec/CA1.mp3",
            "body": "notes",
            "title": "Call with Test",
            "disposition": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
            "externalId": "twilio:CA1",
        },
    }
    assert result.content_hash == content_hash(result.body)
    assert result.warnings == ()


def test_meeting_body_matches_the_seed() -> None:
    result = built(meeting())
    assert_seed_shape(result.body)
    assert result.body["engagement"]["type"] == "MEETING"
    assert result.body["metadata"] == {
        "title": "Quarterly review",
        "body": "Agenda",
        "startTime": START_MS,
        "endTime": START_MS + 3_600_000,
    }


@pytest.mark.parametrize(
    ("started", "ms"),
    [
        (START, START_MS),
        (datetime(2024, 4, 15, 14, 0, 0, 123_000, tzinfo=UTC), START_MS + 123),
        (datetime(2024, 4, 15, 14, 0, 0, 999_999, tzinfo=UTC), START_MS + 999),
        (datetime(2024, 4, 15, 16, 0, tzinfo=timezone(timedelta(hours=2))), START_MS),
        (datetime(2000, 1, 1, tzinfo=UTC), 946_684_800_000),
        (datetime(2099, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC), 4_102_444_799_999),
    ],
)
def test_times_are_unix_ms(started: datetime, ms: int) -> None:
    body = built(call(started_at=started, ended_at=None)).body
    assert body["engagement"]["timestamp"] == ms
    body = built(meeting(started_at=started, ended_at=started)).body
    assert body["metadata"]["startTime"] == body["metadata"]["endTime"] == ms


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"started_at": datetime(1999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)}, "timestamp"),
        ({"started_at": datetime(2100, 1, 1, tzinfo=UTC)}, "timestamp"),
        # seconds read as ms: 1713189600 ms is January 1970
        ({"started_at": EPOCH + timedelta(milliseconds=1_713_189_600)}, "timestamp"),
        ({"started_at": datetime(2500, 1, 1, tzinfo=UTC)}, "timestamp"),
        ({"ended_at": datetime(2100, 1, 1, 0, 0, 1, tzinfo=UTC)}, "endTime"),
    ],
)
@pytest.mark.parametrize("make", [call, meeting])
def test_time_outside_2000_2100_rejected(make: Any, overrides: dict[str, Any], field: str) -> None:
    result = build_v1_request(make(**overrides), OPEN)
    assert isinstance(result, Rejection)
    assert (result.target, result.reason, result.field) == ("v1", "timestamp_out_of_range", field)


def test_no_start_time_rejected() -> None:
    result = build_v1_request(call(started_at=None), OPEN)  # type: ignore[arg-type]
    assert isinstance(result, Rejection)
    assert (result.target, result.reason) == ("v1", "bad_timestamp")


CONTACTS = ContactIndex.from_rows(
    [
        {"contact_id": "11", "email": "Ann@Example.com", "phone": "+14155552671"},
        {"contact_id": "12", "email": "bob@example.com", "phone": ""},
        {"contact_id": "13", "email": "", "phone": "+442079460958"},
    ]
)


@pytest.mark.parametrize(
    ("overrides", "allow", "contacts"),
    [
        ({}, False, None),
        ({"contact_ids": []}, False, None),
        ({}, True, []),
        ({"contact_ids": [5, 6], "to_phone": "+14155552671"}, False, [5, 6]),
        ({"to_phone": "+14155552671"}, False, [11]),
        ({"to_phone_raw": "+14155552671"}, False, [11]),
        ({"direction": "inbound", "from_phone": "+442079460958"}, False, [13]),
        ({"participants": [{"email": " BOB@example.com "}]}, False, [12]),
        (
            {"participants": [{"phone": "+442079460958", "email": "ann@example.com"}]},
            False,
            [13, 11],
        ),
        (
            {"to_phone": "+15550000000", "participants": [{"email": "nobody@example.com"}]},
            False,
            None,
        ),
    ],
)
def test_contacts(overrides: dict[str, Any], allow: bool, contacts: list[int] | None) -> None:
    """Contacts come from the record, else from the contact map by phone (E.164) or email."""
    settings = BuildSettings(source_system="twilio", allow_unassociated=allow, contacts=CONTACTS)
    record = call(
        contact_ids=None, from_phone=None, from_phone_raw=None, to_phone=None, to_phone_raw=None
    )
    result = build_v1_request({**record, **overrides}, settings)  # type: ignore[arg-type]
    if contacts is None:
        assert isinstance(result, Rejection)
        assert (result.target, result.reason, result.field) == ("v1", "no_contact", "contact_ids")
    else:
        assert isinstance(result, BuiltRequest)
        assert result.body["associations"]["contactIds"] == contacts


@pytest.mark.parametrize(
    ("owner_email", "owner_id"),
    [("rep@example.com", 7), (" Rep@Example.COM ", 7), ("other@example.com", None), (None, None)],
)
def test_owner(owner_email: str | None, owner_id: int | None) -> None:
    owners = OwnerIndex.from_rows([{"owner_id": "7", "email": "rep@example.com"}])
    settings = BuildSettings(source_system="twilio", allow_unassociated=True, owners=owners)
    engagement = built(call(owner_email=owner_email), settings).body["engagement"]
    assert engagement.get("ownerId") == owner_id


def test_company_and_deal_ids() -> None:
    associations = built(call(company_ids=[3], deal_ids=[4, 5])).body["associations"]
    assert associations == {"contactIds": [2], "companyIds": [3], "dealIds": [4, 5]}


@pytest.mark.parametrize(
    ("size", "truncated"), [(65_535, False), (65_536, False), (65_537, True), (200_000, True)]
)
@pytest.mark.parametrize("make", [call, meeting])
def test_body_limit(make: Any, size: int, truncated: bool) -> None:
    text = ("note ✓ " * (size // 7 + 1))[:size]
    result = built(make(body=text))
    assert result.body["metadata"]["body"] == text[:65_536]
    assert ("body_truncated" in result.warnings) is truncated


@pytest.mark.parametrize(
    ("status", "hubspot"),
    [
        ("completed", "COMPLETED"),
        ("no_answer", "NO_ANSWER"),
        ("busy", "BUSY"),
        ("failed", "FAILED"),
        ("canceled", "CANCELED"),
        ("missed", "NO_ANSWER"),
        ("voicemail", "COMPLETED"),
        ("unknown", None),
        (None, None),
    ],
)
def test_status(status: str | None, hubspot: str | None) -> None:
    metadata = built(call(status=status)).body["metadata"]
    assert metadata.get("status") == hubspot


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        *HUBSPOT_DEFAULT_DISPOSITIONS.items(),
        ("b2cf5968-551e-4856-9783-52b3da59a7d0", "b2cf5968-551e-4856-9783-52b3da59a7d0"),
        (None, None),
    ],
)
def test_disposition_names_become_guids(disposition: str | None, expected: str | None) -> None:
    metadata = built(call(disposition=disposition)).body["metadata"]
    assert metadata.get("disposition") == expected
    if expected:
        assert GUID.match(expected)


def test_custom_disposition_map() -> None:
    settings = BuildSettings(
        source_system="twilio",
        allow_unassociated=True,
        dispositions={"demo booked": "11111111-2222-3333-4444-555555555555"},
    )
    metadata = built(call(disposition="demo booked"), settings).body["metadata"]
    assert metadata["disposition"] == "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize("disposition", ["Left a message", "Connected", "no answer"])
def test_unmapped_disposition_is_never_sent_as_guid(disposition: str) -> None:
    result = build_v1_request(call(disposition=disposition), OPEN)  # type: ignore[arg-type]
    if isinstance(result, BuiltRequest):
        value = result.body["metadata"].get("disposition")
        assert value is None or GUID.match(value)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("(857) 829-5489", None),
        ("client:alice", None),
        ("anonymous", None),
        ("5618769964", None),
        ("+14155552671", "+14155552671"),
    ],
)
def test_invalid_phone_kept_raw(raw: str, e164: str | None) -> None:
    """DESIGN invariant 6: v1 numbers are free text, an invalid phone never rejects a record."""
    record = call(from_phone=e164, from_phone_raw=raw, to_phone=e164, to_phone_raw=raw)
    metadata = built(record).body["metadata"]
    assert metadata["toNumber"] == metadata["fromNumber"] == (e164 or raw)


def test_no_phone_at_all_leaves_numbers_out() -> None:
    metadata = built(
        call(from_phone=None, from_phone_raw=None, to_phone=None, to_phone_raw=None)
    ).body["metadata"]
    assert "toNumber" not in metadata and "fromNumber" not in metadata


# --- properties --------------------------------------------------------------------------------

PHONES = st.sampled_from(["+14155552671", "+442079460958", "(857) 829-5489", "client:alice", ""])
TIMES = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2110, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))]),
)
IDS = st.none() | st.lists(st.integers(1, 2**53), max_size=3)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {
        "external_id": "twilio:" + draw(st.text(min_size=1, max_size=30)),
        "source_system": "twilio",
        "source_id": "x",
        "kind": draw(st.sampled_from(["call", "meeting"])),
        "started_at": draw(TIMES),
    }
    optional = {
        "title": st.none() | st.text(max_size=30),
        "body": st.none() | st.text(max_size=30),
        "ended_at": st.none() | TIMES,
        "duration_ms": st.none() | st.integers(0, 10**9),
        "direction": st.sampled_from(["inbound", "outbound", "internal", "unknown", None]),
        "status": st.sampled_from(
            [
                None,
                "completed",
                "no_answer",
                "busy",
                "failed",
                "voicemail",
                "missed",
                "canceled",
                "unknown",
            ]
        ),
        "disposition": st.none() | st.sampled_from(sorted(HUBSPOT_DEFAULT_DISPOSITIONS)),
        "from_phone": st.none() | PHONES,
        "to_phone": st.none() | PHONES,
        "from_phone_raw": st.none() | PHONES,
        "to_phone_raw": st.none() | PHONES,
        "recording_url": st.none() | st.just("https://media.example.com/r.mp3"),
        "owner_email": st.none() | st.sampled_from(["rep@example.com", "x@example.com"]),
        "participants": st.none()
        | st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "email": st.none() | st.sampled_from(["ann@example.com", "z@x.io"]),
                    "phone": st.none() | PHONES,
                },
            ),
            max_size=3,
        ),
        "contact_ids": IDS,
        "company_ids": IDS,
        "deal_ids": IDS,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            record[key] = draw(strategy)
    return record


@hsettings(max_examples=150, deadline=None)
@given(record=records(), allow=st.booleans())
def test_every_built_body_has_the_seed_shape(record: dict[str, Any], allow: bool) -> None:
    owners = OwnerIndex.from_rows([{"owner_id": "7", "email": "rep@example.com"}])
    settings = BuildSettings(
        source_system="twilio", allow_unassociated=allow, contacts=CONTACTS, owners=owners
    )
    result = build_v1_request(record, settings)  # type: ignore[arg-type]
    assert result == build_v1_request(dict(record), settings)  # type: ignore[arg-type]
    event(type(result).__name__)
    if isinstance(result, Rejection):
        assert result.target == "v1" and result.reason in REASONS
        return
    assert_seed_shape(result.body)
    exact_ms = (record["started_at"] - EPOCH) // timedelta(milliseconds=1)
    assert result.body["engagement"]["timestamp"] == exact_ms
    assert 946_684_800_000 <= exact_ms < 4_102_444_800_000
    assert result.body["associations"]["contactIds"] or allow
    assert result.content_hash == content_hash(result.body)


def test_timestamp_ms_is_exact_for_sub_second_times() -> None:
    """Regression (found by hypothesis): float maths made 2004-02-01T00:00:00.001Z 1 ms early."""
    from sources.engagements.builders import to_ms

    value = datetime(2004, 2, 1, 0, 0, 0, 1000, tzinfo=UTC)
    assert to_ms(value) == 1_075_593_600_001
