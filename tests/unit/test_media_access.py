"""Recording links the API cannot fetch by itself are refused for v2 before sending."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sources.engagements.builders import BuiltRequest, Rejection, build_v2_request
from sources.engagements.media_access import classify
from sources.engagements.settings import BuildSettings

NOW = datetime(2024, 4, 15, 12, 0, tzinfo=UTC)
S3 = (
    "https://aircall-recordings.s3.amazonaws.com/calls/1.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Date=20240415T115500Z&X-Amz-Expires=600&X-Amz-Signature=abc"
)


@pytest.mark.parametrize(
    ("url", "kind", "scheme"),
    [
        (
            "https://media.ringcentral.com/restapi/v1.0/account/1/recording/2/content",
            "needs_auth",
            "bearer",
        ),
        ("https://us02web.zoom.us/rec/download/abcDEF", "needs_auth", "bearer"),
        ("https://zoom.us/recording/download/abc", "needs_auth", "bearer"),
        ("https://us02web.zoom.us/rec/download/abc?access_token=xyz", "public", None),
        ("https://assets.aircall.io/calls/123/recording", "needs_auth", "login"),
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3", "public", None),
        ("https://media.example.com/r/1.mp3", "public", None),
        (S3, "expiring", None),
        (
            "https://d1.cloudfront.net/r.mp3?Expires=1713182400&Signature=x&Key-Pair-Id=K",
            "expiring",
            None,
        ),
    ],
)
def test_classify(url: str, kind: str, scheme: str | None) -> None:
    access = classify(url)
    assert (access.kind, access.scheme) == (kind, scheme)


def test_an_s3_link_expires_when_it_says() -> None:
    assert classify(S3).expires_at == datetime(2024, 4, 15, 12, 5, tzinfo=UTC)


def record(url: str) -> dict:
    return {
        "external_id": "aircall:1",
        "source_system": "aircall",
        "source_id": "1",
        "kind": "call",
        "started_at": NOW,
        "recording_url": url,
        "direction": "inbound",
    }


@pytest.mark.parametrize(
    ("url", "now", "reason"),
    [
        ("https://us02web.zoom.us/rec/download/abc", NOW, "media_url_needs_auth"),
        (S3, datetime(2024, 4, 15, 12, 6, tzinfo=UTC), "media_url_expired"),
    ],
)
def test_refused_for_v2_without_a_relay(url: str, now: datetime, reason: str) -> None:
    built = build_v2_request(record(url), BuildSettings("aircall", now=now))  # type: ignore[arg-type]
    assert isinstance(built, Rejection) and built.reason == reason and built.target == "v2"
    assert "relay" in built.message


def test_a_link_still_valid_is_sent_and_a_relay_lifts_the_rule() -> None:
    valid = build_v2_request(record(S3), BuildSettings("aircall", now=NOW))  # type: ignore[arg-type]
    assert isinstance(valid, BuiltRequest)
    relayed = build_v2_request(
        record("https://zoom.us/rec/download/abc"),  # type: ignore[arg-type]
        BuildSettings("zoom", now=NOW, relay=True),
    )
    assert isinstance(relayed, BuiltRequest)
