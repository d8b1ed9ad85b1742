"""The client's checks and the API agree (DESIGN invariant 6): what the builders refuse for a
rule the seeds state, the sandbox refuses too when it is sent anyway; what they accept, it
accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from destinations.sandbox import SandboxConfig, SandboxServer
from destinations.sandbox.media import check_media_url as sandbox_media_check
from sources.engagements.builders import BuiltRequest, Rejection, build_v1_request, build_v2_request
from sources.engagements.media_url import check_media_url
from sources.engagements.settings import BuildSettings
from sources.engagements.wire import with_send_options
from tests.unit.ssrf_vectors import LEGITIMATE, VECTORS

SETTINGS = BuildSettings(source_system="twilio", allow_unassociated=True)
TOKEN = "agree-token"


def record(**changes: Any) -> dict[str, Any]:
    base = {
        "external_id": "twilio:CA1",
        "source_system": "twilio",
        "source_id": "CA1",
        "kind": "call",
        "started_at": datetime(2024, 4, 15, 14, 0, tzinfo=UTC),
        "ended_at": datetime(2024, 4, 15, 14, 2, tzinfo=UTC),
        "duration_ms": 120_000,
        "direction": "outbound",
        "status": "completed",
        "from_phone": "+14155550100",
        "to_phone": "+14155550101",
        "recording_url": "https://media.example.com/r/1.mp3",
        "participants": [{"phone": "+14155550100"}, {"phone": "+14155550101"}],
    }
    return {**base, **changes}


@pytest.fixture(scope="module")
def sandbox() -> Any:
    with SandboxServer(
        SandboxConfig(token=TOKEN, v1_requests_per_10s=100_000, v2_requests_per_second=100_000)
    ) as server:
        yield server


def send_v2(sandbox: SandboxServer, body: dict[str, Any]) -> int:
    data = with_send_options(body, run_workflows=True)
    return httpx.post(
        f"{sandbox.v2_base_url}/v2/engagements",
        content=data,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    ).status_code


V2_CASES = {
    "http media": ("media_url", "http://media.example.com/r/1.mp3"),
    "10/8": ("media_url", "https://10.1.2.3/r.mp3"),
    "172.16/12": ("media_url", "https://172.20.0.5/r.mp3"),
    "192.168/16": ("media_url", "https://192.168.1.1/r.mp3"),
    "127/8": ("media_url", "https://127.0.0.1/r.mp3"),
    "169.254/16": ("media_url", "https://169.254.169.254/latest"),
    "IPv6 loopback": ("media_url", "https://[::1]/r.mp3"),
    "IPv6 link-local": ("media_url", "https://[fe80::1]/r.mp3"),
    "IPv4 in decimal": ("media_url", "https://2130706433/r.mp3"),
    "transcript over 900,000 chars": ("transcript_text", "a" * 900_001),
    "transcript over 950,000 bytes": ("transcript_text", "é" * 475_001),
    "external_id over 500": ("external_id", "twilio:" + "9" * 500),
}


@pytest.mark.parametrize("case", list(V2_CASES))
def test_v2_refused_by_both(sandbox: SandboxServer, case: str) -> None:
    field, value = V2_CASES[case]
    canonical = {"media_url": "recording_url"}.get(field, field)
    built = build_v2_request(record(**{canonical: value}), SETTINGS)  # type: ignore[arg-type]
    assert isinstance(built, Rejection), f"client accepted {case}"
    good = build_v2_request(record(), SETTINGS)  # type: ignore[arg-type]
    assert isinstance(good, BuiltRequest)
    body = {**good.body, field: value, "external_id": f"agree:{case}"}
    if field == "external_id":
        body["external_id"] = value
    assert send_v2(sandbox, body) in (400, 422), f"sandbox accepted {case}"


def test_v2_accepted_by_both(sandbox: SandboxServer) -> None:
    for i, url in enumerate(
        [
            "https://media.example.com/r/1.mp3?X-Amz-Expires=600&X-Amz-Signature=ab",
            "https://api.twilio.com:443/2010-04-01/Accounts/AC1/Recordings/RE1.mp3",
            "https://media.example.com/録音/通話.mp3",
        ]
    ):
        built = build_v2_request(record(recording_url=url, external_id=f"twilio:ok{i}"), SETTINGS)  # type: ignore[arg-type]
        assert isinstance(built, BuiltRequest)
        assert send_v2(sandbox, built.body) == 201


def test_v1_seconds_for_ms_refused_by_both(sandbox: SandboxServer) -> None:
    built = build_v1_request(record(started_at=datetime(1970, 1, 20, 19, 53, tzinfo=UTC)), SETTINGS)  # type: ignore[arg-type]
    assert isinstance(built, Rejection) and built.reason == "timestamp_out_of_range"
    good = build_v1_request(record(), SETTINGS)  # type: ignore[arg-type]
    assert isinstance(good, BuiltRequest)
    body = {**good.body, "engagement": {**good.body["engagement"], "timestamp": 1_713_189_600}}
    status = httpx.post(
        f"{sandbox.base_url}/engagements/v1/engagements",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).status_code
    assert status == 400
    ok = httpx.post(
        f"{sandbox.base_url}/engagements/v1/engagements",
        json=good.body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).status_code
    assert ok == 200


def test_v1_body_limit_is_never_reached_by_the_client(sandbox: SandboxServer) -> None:
    built = build_v1_request(record(body="x" * 70_000), SETTINGS)  # type: ignore[arg-type]
    assert isinstance(built, BuiltRequest) and "body_truncated" in built.warnings
    ok = httpx.post(
        f"{sandbox.base_url}/engagements/v1/engagements",
        json=built.body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).status_code
    too_long = {**built.body, "metadata": {**built.body["metadata"], "body": "x" * 65_537}}
    refused = httpx.post(
        f"{sandbox.base_url}/engagements/v1/engagements",
        json=too_long,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).status_code
    assert (ok, refused) == (200, 400)


# The SSRF corpus (issue 12): the sandbox's media check follows the client's rules.
@pytest.mark.parametrize(("url", "code"), VECTORS)
def test_every_ssrf_vector_is_refused_by_both_checks(url: str, code: str) -> None:
    client = check_media_url(url)
    assert client is not None and client.code == code
    assert sandbox_media_check(url) is not None, f"the sandbox accepts {url!r}"


def test_every_ssrf_vector_sent_anyway_is_refused_by_the_sandbox(sandbox: SandboxServer) -> None:
    good = build_v2_request(record(), SETTINGS)  # type: ignore[arg-type]
    assert isinstance(good, BuiltRequest)
    accepted = [
        url
        for i, (url, _) in enumerate(VECTORS)
        if send_v2(sandbox, {**good.body, "media_url": url, "external_id": f"ssrf:{i}"}) < 400
    ]
    assert accepted == []


def test_real_recording_links_are_accepted_by_both(sandbox: SandboxServer) -> None:
    for i, url in enumerate(LEGITIMATE):
        built = build_v2_request(record(recording_url=url, external_id=f"legit:{i}"), SETTINGS)  # type: ignore[arg-type]
        assert isinstance(built, BuiltRequest), url
        assert sandbox_media_check(built.body["media_url"]) is None, url
        assert send_v2(sandbox, built.body) == 201, url
