"""The sandbox as a real HTTP server on 127.0.0.1: both engagement APIs, limits, persistence."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

# The project is not installed into the venv: make the repository root importable.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from destinations.sandbox import SandboxConfig, SandboxServer  # noqa: E402

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Limits far above what the functional tests send; the limit tests start their own servers.
UNLIMITED = SandboxConfig(
    token=TOKEN,
    v1_requests_per_10s=1_000_000,
    v1_daily_limit=10_000_000,
    v2_requests_per_second=1_000_000.0,
)
PUBLIC_MEDIA = "https://media.example.com/rec/1.mp3?X-Amz-Expires=600"
V1_PATH = "/engagements/v1/engagements"
V2_PATH = "/v2/engagements"
RATE_HEADERS = (
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
)
MS_2024 = 1_713_189_600_000  # 2024-04-15T14:00:00Z
_MISSING = object()


def _client(base_url: str, headers: dict[str, str] | None = None) -> httpx.Client:
    # trust_env=False: no proxy from the environment may sit between the test and 127.0.0.1.
    return httpx.Client(base_url=base_url, headers=headers, timeout=10.0, trust_env=False)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(UNLIMITED) as server:
        yield server


@pytest.fixture
def clean(sandbox: SandboxServer) -> SandboxServer:
    sandbox.store.reset()
    return sandbox


# Clients live as long as the server: building one costs ~30 ms (its TLS context).
@pytest.fixture(scope="module")
def v1_session(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with _client(sandbox.base_url, AUTH) as client:
        yield client


@pytest.fixture(scope="module")
def v2_session(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with _client(sandbox.v2_base_url, AUTH) as client:
        yield client


@pytest.fixture
def v1(clean: SandboxServer, v1_session: httpx.Client) -> httpx.Client:
    """A v1 client against the shared sandbox, emptied for this test."""
    return v1_session


@pytest.fixture
def v2(clean: SandboxServer, v2_session: httpx.Client) -> httpx.Client:
    """A v2 client against the shared sandbox, emptied for this test."""
    return v2_session


def v1_body(kind: str = "NOTE", metadata: Any = _MISSING, **engagement: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "engagement": {"type": kind, "timestamp": MS_2024, **engagement},
        "associations": {"contactIds": [2], "companyIds": [], "dealIds": []},
    }
    if metadata is not _MISSING:
        body["metadata"] = metadata
    return body


def v2_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "CALL",
        "title": "Quarterly Sales Strategy Discussion",
        "source_system": "custom-dialer",
        "external_id": "dialer:1",
        "media_url": PUBLIC_MEDIA,
        "run_workflows": False,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not _MISSING}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("https://docs.askelephant.ai/errors/")
    assert problem["title"] and problem["detail"]
    assert problem["request_id"].startswith("req_")
    assert response.headers["X-Request-Id"] == problem["request_id"]
    return problem


# ---- HubSpot Engagements v1: create ----------------------------------------------------------


def test_v1_create_returns_the_engagement_in_hubspot_shape(
    v1: httpx.Client, clean: SandboxServer
) -> None:
    body = v1_body("NOTE", {"body": "note body"}, ownerId=1)
    body["attachments"] = [{"id": 4241968539}]
    response = v1.post(V1_PATH, json=body)
    assert response.status_code == 200, response.text
    created = response.json()
    engagement = created["engagement"]
    assert set(engagement) == {
        "id", "portalId", "active", "createdAt", "lastUpdated", "ownerId", "type", "timestamp",
    }  # fmt: skip
    assert engagement["id"] >= 1000
    assert engagement["portalId"] == 62515
    assert (engagement["type"], engagement["timestamp"], engagement["ownerId"]) == (
        "NOTE", MS_2024, 1,
    )  # fmt: skip
    assert engagement["active"] is True
    assert engagement["createdAt"] == engagement["lastUpdated"]
    assert created["associations"] == {
        "contactIds": [2], "companyIds": [], "dealIds": [], "ownerIds": [], "workflowIds": [],
        "ticketIds": [],
    }  # fmt: skip
    assert created["attachments"] == [{"id": 4241968539}]
    assert created["metadata"] == {"body": "note body"}
    assert all(name in response.headers for name in RATE_HEADERS)
    assert clean.store.count_v1() == 1


def test_v1_create_drops_metadata_external_id(v1: httpx.Client, clean: SandboxServer) -> None:
    metadata = {"externalId": "CAc052", "status": "COMPLETED", "durationMilliseconds": 38000}
    response = v1.post(V1_PATH, json=v1_body("CALL", metadata))
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"status": "COMPLETED", "durationMilliseconds": 38000}
    assert "externalId" not in clean.store.v1_engagements()[0]["metadata"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "wrong-token", "not-bearer"],
)
def test_v1_rejects_bad_credentials(clean: SandboxServer, headers: dict[str, str]) -> None:
    with _client(clean.base_url, headers) as client:
        response = client.post(V1_PATH, json=v1_body("NOTE", {"body": "x"}))
    assert response.status_code == 401
    error = response.json()
    assert error["status"] == "error"
    assert error["category"] == "INVALID_AUTHENTICATION"
    assert error["correlationId"]
    assert clean.store.count_v1() == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (v1_body("NOTE"), "metadata is required"),
        ({"metadata": {}}, "engagement is required"),
        ({"engagement": {"timestamp": MS_2024}, "metadata": {}}, "engagement.type"),
        (v1_body("SMS", {}), "engagement.type"),
        (v1_body("NOTE", {}, timestamp=1_713_189_600), "milliseconds"),
        (v1_body("NOTE", {}, timestamp="1713189600000"), "integer"),
        (v1_body("NOTE", {"body": "x" * 65_537}), "65536"),
        (v1_body("NOTE", {}, id=1), "engagement.id is read-only"),
        (v1_body("NOTE", {}, portalId=62515), "engagement.portalId is read-only"),
        (v1_body("NOTE", {}, createdAt=MS_2024), "engagement.createdAt is read-only"),
        (v1_body("NOTE", {}, lastUpdated=MS_2024), "engagement.lastUpdated is read-only"),
        (v1_body("CALL", {"status": "DONE"}), "metadata.status"),
        (v1_body("CALL", {"durationMilliseconds": "38s"}), "durationMilliseconds"),
        (v1_body("MEETING", {"startTime": 1_713_189_600}), "metadata.startTime"),
        ({**v1_body("NOTE", {}), "associations": {"contactIds": ["2"]}}, "contactIds"),
    ],
    ids=[
        "missing-metadata", "missing-engagement", "missing-type", "unknown-type",
        "timestamp-in-seconds", "timestamp-string", "body-over-65536", "read-only-id",
        "read-only-portalId", "read-only-createdAt", "read-only-lastUpdated", "call-status",
        "call-duration-type", "meeting-start-in-seconds", "association-ids-not-integers",
    ],
)  # fmt: skip
def test_v1_create_validation_errors(
    v1: httpx.Client, clean: SandboxServer, body: dict[str, Any], fragment: str
) -> None:
    response = v1.post(V1_PATH, json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert (error["status"], error["category"]) == ("error", "VALIDATION_ERROR")
    assert error["correlationId"]
    assert any(fragment in e["message"] for e in error["errors"]), error
    assert all(name in response.headers for name in RATE_HEADERS)
    assert clean.store.count_v1() == 0


def test_v1_accepts_a_body_of_exactly_65536_characters(v1: httpx.Client) -> None:
    response = v1.post(V1_PATH, json=v1_body("NOTE", {"body": "x" * 65_536}))
    assert response.status_code == 200, response.text


def test_v1_rejects_malformed_json(v1: httpx.Client) -> None:
    response = v1.post(V1_PATH, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


# ---- HubSpot Engagements v1: rate limits -----------------------------------------------------


def test_v1_ten_second_limit_answers_429_with_policy_and_headers() -> None:
    config = SandboxConfig(token=TOKEN, v1_requests_per_10s=3)
    with SandboxServer(config) as server, _client(server.base_url, AUTH) as client:
        with _client(server.base_url) as anonymous:
            assert anonymous.get(f"{V1_PATH}/paged").status_code == 401  # consumes no quota
        remaining = []
        for _ in range(3):
            response = client.post(V1_PATH, json=v1_body("NOTE", {"body": "x"}))
            assert response.status_code == 200, response.text
            remaining.append(response.headers["X-HubSpot-RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"]
        limited = client.get(f"{V1_PATH}/paged")
        assert limited.status_code == 429
        assert limited.json()["policyName"] == "TEN_SECONDLY_ROLLING"
        assert limited.json()["errorType"] == "RATE_LIMIT"
        assert limited.json()["message"] == "You have reached your ten_secondly_rolling limit."
        assert limited.json()["correlationId"]
        assert limited.headers["X-HubSpot-RateLimit-Max"] == "3"
        assert limited.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert limited.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert limited.headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(250_000 - 3)
        assert server.store.count_v1() == 3


def test_v1_daily_limit_answers_429_daily() -> None:
    config = SandboxConfig(token=TOKEN, v1_daily_limit=2)
    with SandboxServer(config) as server, _client(server.base_url, AUTH) as client:
        for _ in range(2):
            assert client.post(V1_PATH, json=v1_body("NOTE", {})).status_code == 200
        limited = client.post(V1_PATH, json=v1_body("NOTE", {}))
        assert limited.status_code == 429
        assert limited.json()["policyName"] == "DAILY"
        assert limited.json()["message"] == "You have reached your daily limit."
        assert limited.headers["X-HubSpot-RateLimit-Daily"] == "2"
        assert limited.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
        assert server.store.count_v1() == 2


# ---- HubSpot Engagements v1: reads and PATCH -------------------------------------------------


def _create_three(v1: httpx.Client) -> list[int]:
    associations = [
        {"contactIds": [2], "companyIds": [7]},
        {"contactIds": [3], "dealIds": [9]},
        {"contactIds": [2, 3]},
    ]
    ids = []
    for assoc in associations:
        body = {**v1_body("NOTE", {"body": "n"}), "associations": assoc}
        response = v1.post(V1_PATH, json=body)
        assert response.status_code == 200, response.text
        ids.append(response.json()["engagement"]["id"])
    return ids


def test_v1_paged_walks_all_engagements_by_offset(v1: httpx.Client) -> None:
    ids = _create_three(v1)
    first = v1.get(f"{V1_PATH}/paged", params={"limit": 2}).json()
    assert [r["engagement"]["id"] for r in first["results"]] == ids[:2]
    assert first["hasMore"] is True
    second = v1.get(f"{V1_PATH}/paged", params={"limit": 2, "offset": first["offset"]}).json()
    assert [r["engagement"]["id"] for r in second["results"]] == ids[2:]
    assert second["hasMore"] is False


@pytest.mark.parametrize(
    ("object_type", "object_id", "expected"),
    [("CONTACT", 2, [0, 2]), ("CONTACT", 3, [1, 2]), ("COMPANY", 7, [0]), ("DEAL", 9, [1])],
)
def test_v1_associated_lists_only_that_objects_engagements(
    v1: httpx.Client, object_type: str, object_id: int, expected: list[int]
) -> None:
    ids = _create_three(v1)
    page = v1.get(f"{V1_PATH}/associated/{object_type}/{object_id}/paged").json()
    assert [r["engagement"]["id"] for r in page["results"]] == [ids[i] for i in expected]
    assert page["hasMore"] is False


def test_v1_recent_modified_is_newest_first_since_a_time(v1: httpx.Client) -> None:
    ids = _create_three(v1)
    since = int(time.time() * 1000) - 60_000
    page = v1.get(f"{V1_PATH}/recent/modified", params={"since": since, "count": 2}).json()
    assert page["total"] == 3 and page["hasMore"] is True
    rest = v1.get(
        f"{V1_PATH}/recent/modified", params={"since": since, "count": 2, "offset": page["offset"]}
    ).json()
    seen = [r["engagement"]["id"] for r in page["results"] + rest["results"]]
    assert sorted(seen) == ids and rest["hasMore"] is False
    future = v1.get(f"{V1_PATH}/recent/modified", params={"since": since + 3_600_000}).json()
    assert (future["results"], future["total"]) == ([], 0)


def test_v1_get_by_id_and_404(v1: httpx.Client) -> None:
    engagement_id = _create_three(v1)[0]
    found = v1.get(f"{V1_PATH}/{engagement_id}")
    assert found.status_code == 200
    assert found.json()["associations"]["companyIds"] == [7]
    missing = v1.get(f"{V1_PATH}/999999")
    assert missing.status_code == 404 and missing.json()["status"] == "error"


@pytest.mark.parametrize(
    "params", [{"limit": 251}, {"limit": 0}, {"limit": "ten"}], ids=["251", "0", "text"]
)
def test_v1_paged_rejects_bad_limits(v1: httpx.Client, params: dict[str, Any]) -> None:
    assert v1.get(f"{V1_PATH}/paged", params=params).status_code == 400


def test_v1_patch_updates_fields_merges_metadata_and_bumps_last_updated(v1: httpx.Client) -> None:
    created = v1.post(V1_PATH, json=v1_body("CALL", {"body": "a", "status": "COMPLETED"})).json()
    engagement_id = created["engagement"]["id"]
    patch = {"engagement": {"active": False, "ownerId": 5}, "metadata": {"body": "b"}}
    response = v1.patch(f"{V1_PATH}/{engagement_id}", json=patch)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["engagement"]["active"] is False
    assert updated["engagement"]["ownerId"] == 5
    assert updated["metadata"] == {"body": "b", "status": "COMPLETED"}
    assert updated["engagement"]["lastUpdated"] > created["engagement"]["lastUpdated"]
    assert v1.get(f"{V1_PATH}/{engagement_id}").json() == updated


@pytest.mark.parametrize(
    ("patch", "status"),
    [
        ({"associations": {"contactIds": [3]}}, 400),
        ({"engagement": {"id": 5}}, 400),
        ({"engagement": {"timestamp": 1_713_189_600}}, 400),
        ({"engagement": {"type": "NOTE"}}, 400),
    ],
    ids=["associations", "read-only-id", "timestamp-in-seconds", "change-type"],
)
def test_v1_patch_rejections(v1: httpx.Client, patch: dict[str, Any], status: int) -> None:
    engagement_id = v1.post(V1_PATH, json=v1_body("CALL", {})).json()["engagement"]["id"]
    response = v1.patch(f"{V1_PATH}/{engagement_id}", json=patch)
    assert response.status_code == status, response.text
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_v1_patch_associations_message(v1: httpx.Client) -> None:
    engagement_id = v1.post(V1_PATH, json=v1_body("NOTE", {})).json()["engagement"]["id"]
    response = v1.patch(f"{V1_PATH}/{engagement_id}", json={"associations": {"contactIds": [3]}})
    assert "associations cannot be updated" in response.json()["message"]
    assert v1.patch(f"{V1_PATH}/999999", json={"metadata": {}}).status_code == 404


# ---- AskElephant v2: create ------------------------------------------------------------------


@pytest.mark.parametrize("second_source", ["custom-dialer", "salesforce"])
def test_v2_create_is_idempotent_on_external_id(
    v2: httpx.Client, clean: SandboxServer, second_source: str
) -> None:
    first = v2.post(V2_PATH, json=v2_body())
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["object"] == "engagement"
    assert created["id"].startswith("eng_") and len(created["id"]) == 24
    assert created["engagement_type"] == "CALL"
    assert created["processing_status"] == "PENDING"
    assert created["is_private"] is False
    assert created["data_source"] == "custom-dialer"
    assert first.headers["X-Request-Id"].startswith("req_")
    again = v2.post(V2_PATH, json=v2_body(source_system=second_source, title="Another title"))
    assert again.status_code == 200, again.text
    assert again.json() == created
    rows = clean.store.v2_engagements()
    assert [(r["external_id"], r["source_system"]) for r in rows] == [("dialer:1", "custom-dialer")]


def test_v2_stores_every_field(v2: httpx.Client, clean: SandboxServer) -> None:
    body = v2_body(
        start_at="2024-04-15T16:00:00+02:00",
        is_private=True,
        participants=[{"name": "Ana", "phone": "+14155552671", "is_owner": True}, {"email": "b@x"}],
        transcript_text="hello",
    )
    created = v2.post(V2_PATH, json=body).json()
    assert created["start_at"] == "2024-04-15T14:00:00.000Z"
    assert created["is_private"] is True
    row = clean.store.v2_engagements()[0]
    assert row["participants"] == body["participants"]
    assert (row["transcript_text"], row["media_url"], row["run_workflows"]) == (
        "hello", PUBLIC_MEDIA, False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}],
    ids=["missing", "wrong-token"],
)
def test_v2_rejects_bad_credentials(clean: SandboxServer, headers: dict[str, str]) -> None:
    with _client(clean.v2_base_url, headers) as client:
        assert_problem(client.post(V2_PATH, json=v2_body()), 401)
    assert clean.store.count_v2() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (v2_body(priority="high"), "priority"),
        (v2_body(run_workflows="yes"), "run_workflows"),
        (v2_body(title=None), "title"),
        (v2_body(start_at="2024-04-15T14:00:00"), "start_at"),
        (v2_body(participants=[{"name": "A", "role": "host"}]), "participants[0].role"),
        (v2_body(participants={"name": "A"}), "participants"),
    ],
    ids=["unknown-field", "bool-as-string", "null-title", "naive-start_at",
         "unknown-participant-field", "participants-not-array"],
)  # fmt: skip
def test_v2_shape_errors_are_400(
    v2: httpx.Client, clean: SandboxServer, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(v2.post(V2_PATH, json=body), 400)
    assert field in [e["field"] for e in problem["errors"]]
    assert clean.store.count_v2() == 0


def test_v2_malformed_json_is_400(v2: httpx.Client) -> None:
    response = v2.post(V2_PATH, content=b'{"type": ', headers={"Content-Type": "application/json"})
    assert_problem(response, 400)


_OWNERS = [{"name": "A", "is_owner": True}, {"name": "B", "is_owner": True}]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"media_url": "http://media.example.com/rec/1.mp3"}, "media_url_not_https"),
        ({"media_url": "https://127.0.0.1/rec.mp3"}, "media_url_private_address"),
        ({"media_url": "https://169.254.169.254/latest/meta-data"}, "media_url_private_address"),
        ({"media_url": "https://10.0.0.1/rec.mp3"}, "media_url_private_address"),
        ({"media_url": "https://[::1]/rec.mp3"}, "media_url_private_address"),
        ({"media_url": "https://[::ffff:127.0.0.1]/rec.mp3"}, "media_url_private_address"),
        ({"media_url": "https://2130706433/rec.mp3"}, "media_url_private_address"),
        ({"media_url": "https://0x7f000001/rec.mp3"}, "media_url_private_address"),
        ({"media_url": "https://localhost/rec.mp3"}, "media_url_private_address"),
        ({"media_url": "https://metadata.google.internal/rec.mp3"}, "media_url_private_address"),
        ({"media_url": "https://user:pw@media.example.com/rec.mp3"}, "media_url_userinfo"),
        ({"media_url": "https://media.example.com/rec/1.json"}, "media_url_not_media"),
        ({"title": _MISSING}, "missing_field"),
        ({"type": "EMAIL"}, "invalid_enum"),
        ({"title": ""}, "invalid_length"),
        ({"transcript_text": "x" * 900_001}, "transcript_too_long"),
        ({"transcript_text": "é" * 480_000}, "transcript_too_long"),
        ({"participants": _OWNERS}, "multiple_owners"),
        ({"participants": [{"phone": "415-555-2671"}]}, "invalid_phone"),
    ],
    ids=[
        "http", "127.0.0.1", "169.254.169.254", "10.0.0.1", "ipv6-loopback", "ipv4-mapped",
        "decimal-ip", "hex-ip", "localhost", "metadata.google.internal", "userinfo", "json-url",
        "missing-title", "type-EMAIL", "empty-title", "transcript-900001-chars",
        "transcript-over-950000-bytes", "two-owners", "phone-not-e164",
    ],
)  # fmt: skip
def test_v2_semantic_errors_are_422(
    v2: httpx.Client, clean: SandboxServer, overrides: dict[str, Any], code: str
) -> None:
    problem = assert_problem(v2.post(V2_PATH, json=v2_body(**overrides)), 422)
    assert code in [e["code"] for e in problem["errors"]], problem
    assert clean.store.count_v2() == 0


def test_v2_media_rules_mention_https_and_content(v2: httpx.Client) -> None:
    http = v2.post(V2_PATH, json=v2_body(media_url="http://media.example.com/a.mp3")).json()
    assert "media_url must use https" in http["errors"][0]["message"]
    page = v2.post(V2_PATH, json=v2_body(media_url="https://media.example.com/a.html")).json()
    assert "media URL does not serve audio or video content" in page["errors"][0]["message"]


def test_v2_accepts_a_public_presigned_url(v2: httpx.Client, clean: SandboxServer) -> None:
    response = v2.post(V2_PATH, json=v2_body(media_url=PUBLIC_MEDIA))
    assert response.status_code == 201, response.text
    assert clean.store.v2_engagements()[0]["media_url"] == PUBLIC_MEDIA


def test_v2_loopback_media_only_with_the_testing_switch() -> None:
    config = SandboxConfig(token=TOKEN, allow_loopback_media=True)
    with SandboxServer(config) as server, _client(server.v2_base_url, AUTH) as client:
        local = client.post(V2_PATH, json=v2_body(media_url="https://127.0.0.1:9/a.mp3"))
        assert local.status_code == 201, local.text
        private = client.post(
            V2_PATH, json=v2_body(external_id="x2", media_url="https://10.0.0.1/a.mp3")
        )
        assert_problem(private, 422)


def test_v2_rate_limit_answers_429_with_retry_after() -> None:
    # One request every 2 s: the second request is refused even on a slow machine.
    config = SandboxConfig(token=TOKEN, v2_requests_per_second=0.5)
    with SandboxServer(config) as server, _client(server.v2_base_url, AUTH) as client:
        assert client.post(V2_PATH, json=v2_body(external_id="rl-1")).status_code == 201
        limited = client.post(V2_PATH, json=v2_body(external_id="rl-2"))
        assert_problem(limited, 429)
        assert 1 <= int(limited.headers["Retry-After"]) <= 2
        assert server.store.count_v2() == 1


# ---- AskElephant v2: reads -------------------------------------------------------------------


def test_v2_list_pages_with_a_cursor(v2: httpx.Client) -> None:
    ids = [v2.post(V2_PATH, json=v2_body(external_id=f"p-{i}")).json()["id"] for i in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = v2.get(V2_PATH, params=params)
        assert response.status_code == 200 and response.headers["X-Request-Id"]
        page = response.json()
        assert page["object"] == "list"
        seen += [e["id"] for e in page["data"]]
        pages += 1
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert (seen, pages) == (ids, 3)


def test_v2_list_filters_on_updated_at(v2: httpx.Client) -> None:
    v2.post(V2_PATH, json=v2_body())
    past = v2.get(V2_PATH, params={"filter[updated_at][gte]": "2000-01-01T00:00:00Z"}).json()
    future = v2.get(V2_PATH, params={"filter[updated_at][gte]": "2999-01-01T00:00:00Z"}).json()
    assert (len(past["data"]), future["data"]) == (1, [])


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"cursor": "garbage"}, {"filter[updated_at][gte]": "today"}],
    ids=["limit-0", "limit-101", "bad-cursor", "bad-filter"],
)
def test_v2_list_rejects_bad_parameters(v2: httpx.Client, params: dict[str, Any]) -> None:
    assert_problem(v2.get(V2_PATH, params=params), 400)


def test_v2_get_by_id_and_404(v2: httpx.Client) -> None:
    created = v2.post(V2_PATH, json=v2_body()).json()
    assert v2.get(f"{V2_PATH}/{created['id']}").json() == created
    assert_problem(v2.get(f"{V2_PATH}/eng_00000000000000000000"), 404)


# ---- concurrency, persistence, admin ---------------------------------------------------------


def test_v2_concurrent_creates_of_one_external_id_store_one(clean: SandboxServer) -> None:
    barrier = threading.Barrier(20)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def post() -> None:
        with _client(clean.v2_base_url, AUTH) as client:
            barrier.wait()
            response = client.post(V2_PATH, json=v2_body(external_id="race"))
        with lock:
            results.append((response.status_code, response.json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(status for status, _ in results) == [200] * 19 + [201]
    assert len({engagement_id for _, engagement_id in results}) == 1
    assert clean.store.count_v2() == 1


def test_file_backed_store_survives_a_restart(tmp_path: Path) -> None:
    config = SandboxConfig(token=TOKEN, store_path=str(tmp_path / "sandbox.sqlite"))
    with SandboxServer(config) as first:
        with _client(first.base_url, AUTH) as v1:
            v1_id = v1.post(V1_PATH, json=v1_body("NOTE", {"body": "kept"})).json()
        with _client(first.v2_base_url, AUTH) as v2:
            v2_created = v2.post(V2_PATH, json=v2_body(external_id="kept")).json()
    with SandboxServer(config) as second:
        assert (second.store.count_v1(), second.store.count_v2()) == (1, 1)
        with _client(second.v2_base_url, AUTH) as v2:
            again = v2.post(V2_PATH, json=v2_body(external_id="kept"))
        assert (again.status_code, again.json()) == (200, v2_created)
        with _client(second.base_url, AUTH) as v1:
            assert v1.get(f"{V1_PATH}/{v1_id['engagement']['id']}").json() == v1_id
            newer = v1.post(V1_PATH, json=v1_body("NOTE", {})).json()["engagement"]["id"]
        assert newer > v1_id["engagement"]["id"]


def test_two_sandboxes_run_side_by_side_with_separate_stores() -> None:
    with SandboxServer(UNLIMITED) as one, SandboxServer(UNLIMITED) as two:
        assert one.base_url != two.base_url
        with _client(one.v2_base_url, AUTH) as client:
            assert client.post(V2_PATH, json=v2_body()).status_code == 201
        assert (one.store.count_v2(), two.store.count_v2()) == (1, 0)


def test_admin_lists_and_resets(clean: SandboxServer, v1: httpx.Client, v2: httpx.Client) -> None:
    v1.post(V1_PATH, json=v1_body("NOTE", {"body": "n"}))
    v2.post(V2_PATH, json=v2_body())
    with _client(clean.base_url, AUTH) as admin, _client(clean.base_url) as anonymous:
        assert anonymous.get("/_sandbox/engagements").status_code == 401
        listing = admin.get("/_sandbox/engagements").json()
        assert [r["external_id"] for r in listing["v2"]] == ["dialer:1"]
        assert listing["v1"][0]["metadata"] == {"body": "n"}
        assert admin.post("/_sandbox/reset").status_code == 200
        assert admin.get("/_sandbox/engagements").json() == {"v1": [], "v2": []}
