"""classify (HTTP response -> outcome, the one place) and v1 reconcile.matches."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from destinations.engagements.outcomes import Outcome, classify
from destinations.engagements.reconcile import matches
from sources.engagements.builders import BuiltRequest, build_v1_request
from sources.engagements.settings import BuildSettings
from sources.errors import AuthError, DailyQuotaError, StopRunError

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
PROBLEM = {
    "type": "https://docs.askelephant.ai/errors/validation",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "media_url must use https",
    "request_id": "req_422",
    "errors": [{"field": "media_url", "code": "media_url_not_https", "message": "use https"}],
}
HUBSPOT_400 = {
    "status": "error",
    "message": "Property values were not valid",
    "category": "VALIDATION_ERROR",
    "correlationId": "corr-1",
    "errors": [{"message": "toNumber is bad"}],
}


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("target", "status", "headers", "content", "expected"),
    [
        ("v2", 201, {}, body({"id": "eng_1"}), Outcome("created", 201, "eng_1")),
        ("v2", 200, {}, body({"id": "eng_1"}), Outcome("existing", 200, "eng_1")),
        ("v2", 202, {}, b"", Outcome("created", 202)),
        (
            "v2",
            200,
            {"x-request-id": "req_9"},
            body({"id": "e"}),
            Outcome("existing", 200, "e", request_id="req_9"),
        ),
        (
            "v1",
            200,
            {},
            body({"engagement": {"id": 328550660, "portalId": 62515}}),
            Outcome("created", 200, "328550660"),
        ),
        ("v1", 201, {}, body({"engagement": {"id": 7}}), Outcome("created", 201, "7")),
    ],
)
def test_success(
    target: str, status: int, headers: dict[str, str], content: bytes, expected: Outcome
) -> None:
    assert classify(target, status, headers, content) == expected


@pytest.mark.parametrize(
    ("target", "status", "content", "code", "message", "request_id"),
    [
        (
            "v2",
            422,
            body(PROBLEM),
            "media_url_not_https",
            "media_url must use https; media_url: use https",
            "req_422",
        ),
        (
            "v2",
            400,
            body({**PROBLEM, "status": 400, "errors": [], "detail": "title is required"}),
            "Unprocessable Entity",
            "title is required",
            "req_422",
        ),
        ("v2", 400, body({"title": "Bad Request"}), "Bad Request", "Bad Request", None),
        ("v2", 422, b"<html>oops</html>", "422", "HTTP 422", None),
        (
            "v1",
            400,
            body(HUBSPOT_400),
            "VALIDATION_ERROR",
            "Property values were not valid; toNumber is bad",
            "corr-1",
        ),
        ("v1", 422, b"", "422", "HTTP 422", None),
        ("v1", 404, body({"message": "not found"}), "404", "not found", None),
    ],
)
def test_rejected(
    target: str, status: int, content: bytes, code: str, message: str, request_id: str | None
) -> None:
    outcome = classify(target, status, {}, content)
    assert outcome == Outcome(
        "rejected", status, error_code=code, message=message, request_id=request_id
    )


@pytest.mark.parametrize(
    ("status", "meaning"),
    [(404, "cannot access"), (409, "deleted engagement")],
)
def test_v2_404_409_carry_the_seed_meaning(status: int, meaning: str) -> None:
    problem = {**PROBLEM, "status": status, "detail": "conflict on external_id", "errors": []}
    outcome = classify("v2", status, {}, body(problem))
    assert outcome.kind == "rejected"
    assert outcome.message is not None
    assert outcome.message.startswith("conflict on external_id (")
    assert meaning in outcome.message and "external_id" in outcome.message


@pytest.mark.parametrize("target", ["v1", "v2"])
@pytest.mark.parametrize("status", [401, 403])
def test_auth_stops_the_run_and_names_the_setting(target: str, status: int) -> None:
    problem = {**PROBLEM, "status": status, "detail": "invalid or expired token", "errors": []}
    headers = {"www-authenticate": 'Bearer error="invalid_token"'}
    with pytest.raises(AuthError) as caught:
        classify(target, status, headers, body(problem))
    message = str(caught.value)
    assert isinstance(caught.value, StopRunError)
    assert f"DESTINATION__ENGAGEMENTS_{target.upper()}__API_TOKEN" in message
    assert f"[destination.engagements_{target}]" in message
    assert TOKEN not in message and "Bearer" not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("target", "headers", "content", "retry_after"),
    [
        ("v2", {"retry-after": "7"}, body({**PROBLEM, "status": 429}), 7.0),
        ("v2", {"retry-after": "0"}, b"", 0.0),
        ("v2", {"retry-after": "-3"}, b"", 0.0),
        ("v2", {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, b"", None),
        ("v2", {}, b"", None),
        (
            "v1",
            {"retry-after": "2"},
            body(
                {"status": "error", "policyName": "TEN_SECONDLY_ROLLING", "errorType": "RATE_LIMIT"}
            ),
            2.0,
        ),
        ("v1", {}, body({"policyName": "TEN_SECONDLY_ROLLING"}), None),
        ("v1", {}, body({"policyName": "SECONDLY"}), None),
    ],
)
def test_429_is_retried(
    target: str, headers: dict[str, str], content: bytes, retry_after: float | None
) -> None:
    outcome = classify(target, 429, headers, content)
    assert (outcome.kind, outcome.http_status, outcome.retry_after) == ("retry", 429, retry_after)


def test_v1_daily_quota_stops_the_run() -> None:
    content = body(
        {
            "status": "error",
            "message": "You have reached your daily limit.",
            "errorType": "RATE_LIMIT",
            "policyName": "DAILY",
            "correlationId": "c",
        }
    )
    with pytest.raises(DailyQuotaError) as caught:
        classify("v1", 429, {"retry-after": "10"}, content)
    assert isinstance(caught.value, StopRunError)
    assert "daily" in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize(("target", "kind"), [("v2", "retry"), ("v1", "unknown")])
def test_5xx(target: str, kind: str, status: int) -> None:
    outcome = classify(target, status, {}, b"<html>Bad gateway</html>")
    assert (outcome.kind, outcome.http_status, outcome.message) == (kind, status, f"HTTP {status}")


# --- reconcile.matches ---------------------------------------------------------------------------


def sent_call(**overrides: Any) -> dict[str, Any]:
    record = {
        "external_id": "twilio:CA1",
        "source_system": "twilio",
        "source_id": "CA1",
        "kind": "call",
        "started_at": datetime(2024, 4, 15, 14, tzinfo=UTC),
        "duration_ms": 38_000,
        "direction": "outbound",
        "status": "completed",
        "from_phone": "+14155550100",
        "to_phone": "+14155552671",
        "contact_ids": [2],
        "body": "notes",
    }
    record.update(overrides)
    built = build_v1_request(record, BuildSettings(source_system="twilio"))  # type: ignore[arg-type]
    assert isinstance(built, BuiltRequest)
    return built.body


def read_back(sent: dict[str, Any]) -> dict[str, Any]:
    """The engagement as v1 returns it: read-only fields added, externalId not stored."""
    found = copy.deepcopy(sent)
    found["engagement"].update(id=328550660, portalId=62515, createdAt=1, lastUpdated=2)
    found["associations"].update(ownerIds=[], workflowIds=[], ticketIds=[])
    found["metadata"].pop("externalId", None)
    return found


def test_identical_call_matches() -> None:
    sent = sent_call()
    assert matches(sent, read_back(sent))


def test_fields_v1_does_not_compare_may_differ() -> None:
    sent = sent_call()
    found = read_back(sent)
    found["metadata"]["body"] = "edited in HubSpot"
    found["associations"]["contactIds"] = [2, 3]
    assert matches(sent, found)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("engagement", "timestamp", 1_713_189_600_001),
        ("engagement", "type", "MEETING"),
        ("metadata", "durationMilliseconds", 39_000),
        ("metadata", "toNumber", "+14155552672"),
        ("metadata", "fromNumber", "+14155550101"),
        ("metadata", "title", "Another call"),
    ],
)
def test_a_different_call_does_not_match(section: str, key: str, value: Any) -> None:
    sent = sent_call()
    found = read_back(sent)
    found[section][key] = value
    assert not matches(sent, found)


@pytest.mark.parametrize("key", ["startTime", "endTime", "title"])
def test_a_different_meeting_does_not_match(key: str) -> None:
    sent = sent_call(kind="meeting", title="Review", ended_at=datetime(2024, 4, 15, 15, tzinfo=UTC))
    found = read_back(sent)
    assert matches(sent, found)
    found["metadata"][key] = found["metadata"][key] + (1 if key != "title" else "!")
    assert not matches(sent, found)


def test_the_pacer_spaces_sends_evenly_unless_a_burst_is_configured() -> None:
    """requests_per_second means evenly spaced sends; `burst` lets that many go at once."""
    import time

    from destinations.engagements.ratelimit import Pacer

    even, bursty = Pacer(50.0), Pacer(50.0, burst=5)
    started = time.monotonic()
    for _ in range(5):
        bursty.wait()
    burst_time = time.monotonic() - started
    started = time.monotonic()
    for _ in range(5):
        even.wait()
    even_time = time.monotonic() - started
    assert burst_time < 0.03 <= 0.07 <= even_time + 0.01  # 4 gaps of 20 ms when even
