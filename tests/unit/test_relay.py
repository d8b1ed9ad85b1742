"""The relay's pure rules: object names, link expiry, the allow-list, what it re-hosts, settings,
and the staging side (records that need a relay are sendable when the job has one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sources.engagements.builders import BuiltRequest, Rejection, build_v2_request
from sources.engagements.media_access import link_expiry
from sources.engagements.media_url import check_media_url, is_loopback_url
from sources.engagements.relay import (
    RelaySettings,
    host_allowed,
    is_media_type,
    is_relayed,
    needs_relay,
    needs_resign,
    object_name,
    object_path,
    same_origin,
    settings_problem,
)
from sources.engagements.settings import BuildSettings

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
S3_V4 = (
    "https://relay.s3.amazonaws.com/rec/abc?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIA%2F20261121%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20261121T113000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=00ff"
)
GCS_V4 = (
    "https://storage.googleapis.com/relay/rec/abc?X-Goog-Algorithm=GOOG4-RSA-SHA256"
    "&X-Goog-Date=20261121T115000Z&X-Goog-Expires=900&X-Goog-Signature=ab"
)
AZURE_SAS = "https://acct.blob.core.windows.net/relay/rec/abc?sv=2024-11-04&se=2026-11-21T13%3A00%3A00Z&sr=b&sp=r&sig=x"
S3_V2 = "http://127.0.0.1:9000/relay/rec/abc?AWSAccessKeyId=k&Signature=s&Expires=1795309200"


@pytest.mark.parametrize(
    ("url", "expires"),
    [
        (S3_V4, datetime(2026, 11, 21, 12, 30, tzinfo=UTC)),
        (GCS_V4, datetime(2026, 11, 21, 12, 5, tzinfo=UTC)),
        (AZURE_SAS, datetime(2026, 11, 21, 13, 0, tzinfo=UTC)),
        (S3_V2, datetime.fromtimestamp(1795309200, UTC)),
        ("https://media.example.com/a.mp3", None),
        ("https://x.example.com/a.mp3?se=2026-01-01", None),  # no signature: not a SAS link
        ("https://x.example.com/a.mp3?X-Amz-Date=bad&X-Amz-Expires=60", None),
    ],
)
def test_link_expiry_reads_every_signing_scheme(url: str, expires: datetime | None) -> None:
    assert link_expiry(url) == expires


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOW, False),  # 30 minutes left
        (NOW + timedelta(minutes=19), False),
        (NOW + timedelta(minutes=20), True),  # within the 10-minute margin
        (NOW + timedelta(hours=2), True),  # expired
    ],
)
def test_a_recorded_link_is_signed_again_near_its_expiry(now: datetime, expected: bool) -> None:
    assert needs_resign(S3_V4, now, timedelta(minutes=10)) is expected


def test_a_link_without_a_readable_expiry_is_signed_again() -> None:
    assert needs_resign("https://relay.example.com/rec/abc", NOW, timedelta(minutes=10))


def test_the_margin_shrinks_with_short_lifetimes() -> None:
    assert RelaySettings("j", "twilio", "s3://b", url_lifetime=3600).resign_margin == timedelta(
        minutes=10
    )
    assert RelaySettings("j", "twilio", "s3://b", url_lifetime=120).resign_margin == timedelta(
        seconds=30
    )


@given(st.text(min_size=1, max_size=600))
def test_object_names_are_a_pure_function_of_external_id(external_id: str) -> None:
    name = object_name(external_id)
    assert name == object_name(external_id)
    assert len(name) == 64 and name.isalnum() and name.islower()
    path = object_path("bucket/prefix/", external_id)
    assert path == f"bucket/prefix/{name}"
    assert is_relayed(f"https://bucket.s3.amazonaws.com/prefix/{name}?X-Amz-Expires=1", external_id)


def test_different_records_get_different_objects() -> None:
    assert object_name("twilio:CA1") != object_name("twilio:CA2")
    assert not is_relayed(f"https://b/{object_name('twilio:CA1')}", "twilio:CA2")


@pytest.mark.parametrize(
    ("host", "patterns", "allowed"),
    [
        ("api.twilio.com", ("*.twilio.com",), True),
        ("a.b.twilio.com", ("*.twilio.com",), True),
        ("twilio.com", ("*.twilio.com",), False),  # the apex is listed on its own
        ("eviltwilio.com", ("*.twilio.com",), False),
        ("twilio.com.evil.net", ("*.twilio.com",), False),
        ("zoom.us", ("zoom.us", "*.zoom.us"), True),
        ("ZOOM.US.", ("zoom.us",), True),
        ("127.0.0.1", ("127.0.0.1",), True),
        ("127.0.0.1", (), False),
    ],
)
def test_host_allow_list(host: str, patterns: tuple[str, ...], allowed: bool) -> None:
    assert host_allowed(host, patterns) is allowed


@pytest.mark.parametrize(
    ("url", "credentials", "relayed"),
    [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3", False, False),
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3", True, True),
        ("https://media.ringcentral.com/restapi/v1.0/account/1/recording/2/content", False, True),
        (S3_V4, False, True),  # expiring: re-hosted even when still valid
    ],
)
def test_what_the_relay_re_hosts(url: str, credentials: bool, relayed: bool) -> None:
    assert needs_relay(url, credentials) is relayed


@pytest.mark.parametrize(
    ("content_type", "media"),
    [
        ("audio/mpeg", True),
        ("video/mp4; codecs=avc1", True),
        ("Audio/X-WAV", True),
        ("text/html; charset=utf-8", False),
        ("application/octet-stream", False),
        ("audio/", False),
        (None, False),
    ],
)
def test_media_types(content_type: str | None, media: bool) -> None:
    assert is_media_type(content_type) is media


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://api.twilio.com/a", "https://api.twilio.com/b?x=1", True),
        ("https://api.twilio.com/a", "https://s3.amazonaws.com/a", False),
        ("http://127.0.0.1:80/a", "http://localhost:80/a", False),
        ("https://a.example.com/", "http://a.example.com/", False),
        ("https://a.example.com:8443/", "https://a.example.com/", False),
    ],
)
def test_credentials_only_go_back_to_their_origin(a: str, b: str, same: bool) -> None:
    assert same_origin(a, b) is same


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (RelaySettings("j", "twilio", "s3://bucket/rec", hosts=("*.twilio.com",)), None),
        (RelaySettings("j", "twilio", "gs://bucket", hosts=("a",)), None),
        (RelaySettings("j", "twilio", "https://bucket/rec", hosts=("a",)), "bucket URL"),
        (RelaySettings("j", "twilio", "s3://", hosts=("a",)), "names no bucket"),
        (RelaySettings("j", "twilio", "s3://b", url_lifetime=10, hosts=("a",)), "lifetime"),
        (RelaySettings("j", "twilio", "s3://b", url_lifetime=8 * 86400, hosts=("a",)), "7 days"),
        (RelaySettings("j", "twilio", "s3://b", max_bytes=0, hosts=("a",)), "relay_max_mb"),
        (RelaySettings("j", "generic", "s3://b"), "relay_hosts"),
    ],
)
def test_settings_problems_name_the_key(settings: RelaySettings, problem: str | None) -> None:
    found = settings_problem(settings)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8765/_sandbox/recordings/basic/a.mp3", True),
        ("https://localhost/a.mp3", True),
        ("http://[::1]:9/a", True),
        ("http://127.1/a", True),
        ("http://10.0.0.1/a", False),
        ("http://user@127.0.0.1/a", False),
        ("ftp://127.0.0.1/a", False),
        ("https://media.example.com/a.mp3", False),
    ],
)
def test_the_loopback_testing_switch_admits_loopback_only(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback
    assert (check_media_url(url, allow_loopback=True) is None) is (
        loopback or url.startswith("https://media")
    )
    if url.startswith("http://"):
        assert check_media_url(url) is not None  # off by default


RINGCENTRAL = "https://media.ringcentral.com/restapi/v1.0/account/1/recording/2/content"


def record(url: str) -> dict:
    return {
        "external_id": "rc:1",
        "source_system": "ringcentral",
        "source_id": "1",
        "kind": "call",
        "started_at": NOW,
        "recording_url": url,
    }


@pytest.mark.parametrize(
    "url",
    [
        RINGCENTRAL,
        S3_V4.replace("X-Amz-Date=20261121T113000Z", "X-Amz-Date=20201121T113000Z"),  # expired
    ],
)
def test_with_a_relay_such_records_are_staged_with_the_source_url(url: str) -> None:
    without = build_v2_request(record(url), BuildSettings("ringcentral", now=NOW))
    assert isinstance(without, Rejection)
    assert without.reason in ("media_url_needs_auth", "media_url_expired")
    built = build_v2_request(record(url), BuildSettings("ringcentral", now=NOW, relay=True))
    assert isinstance(built, BuiltRequest)
    assert built.body["media_url"] == url


def test_a_dashboard_login_link_stays_refused_even_with_a_relay() -> None:
    built = build_v2_request(
        record("https://assets.aircall.io/calls/123/recording"),
        BuildSettings("aircall", now=NOW, relay=True),
    )
    assert isinstance(built, Rejection) and built.reason == "media_url_needs_auth"
    assert "recording" in built.message


def test_loopback_media_is_staged_only_with_the_testing_switch() -> None:
    url = "http://127.0.0.1:8765/_sandbox/recordings/bearer/a.mp3"
    refused = build_v2_request(record(url), BuildSettings("ringcentral", now=NOW, relay=True))
    assert isinstance(refused, Rejection) and refused.reason == "media_url_not_https"
    allowed = build_v2_request(
        record(url), BuildSettings("ringcentral", now=NOW, relay=True, allow_loopback_media=True)
    )
    assert isinstance(allowed, BuiltRequest)
