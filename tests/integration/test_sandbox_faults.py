"""The sandbox's seeded fault switches, against the real server on 127.0.0.1.

Each fault alone shows its documented behaviour (what the client sees, what is stored, what is
counted); a seed replays the same faults; latency never stalls the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from destinations.sandbox import SandboxConfig, SandboxServer

TOKEN = "fault-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CALM = SandboxConfig(
    token=TOKEN,
    v1_requests_per_10s=1_000_000,
    v1_daily_limit=10_000_000,
    v2_requests_per_second=1_000_000.0,
)
V1_PATH = "/engagements/v1/engagements"
V2_PATH = "/v2/engagements"
LOST = (httpx.RemoteProtocolError, httpx.ReadError)
ZERO_COUNTS = {
    "requests": 0,
    "created": 0,
    "existing": 0,
    "errors_500": 0,
    "lost_responses": 0,
    "read_timeouts": 0,
    "throttled_429": 0,
    "media_timeouts": 0,
    "locked_423": 0,
}


def faulty(**faults: Any) -> SandboxConfig:
    """The calm sandbox with some fault switches on."""
    return replace(CALM, **faults)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start sandboxes with given configs; all are stopped after the test."""
    servers: list[SandboxServer] = []

    def start(config: SandboxConfig) -> SandboxServer:
        servers.append(SandboxServer(config).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def client(base_url: str, read_timeout: float = 10.0) -> httpx.Client:
    # trust_env=False: no proxy from the environment may sit between the test and 127.0.0.1.
    timeout = httpx.Timeout(10.0, read=read_timeout)
    return httpx.Client(base_url=base_url, headers=AUTH, timeout=timeout, trust_env=False)


def v1_body(n: int = 1) -> dict[str, Any]:
    return {"engagement": {"type": "NOTE", "timestamp": 1_713_189_600_000 + n}, "metadata": {}}


def v2_body(external_id: str = "dialer:1") -> dict[str, Any]:
    return {
        "type": "CALL",
        "title": "Quarterly call",
        "source_system": "custom-dialer",
        "external_id": external_id,
        "media_url": "https://media.example.com/rec/1.mp3",
        "run_workflows": False,
    }


def create(server: SandboxServer, api: str, n: int, http: httpx.Client) -> httpx.Response:
    """POST the n-th create of a test to api ("v1" or "v2")."""
    if api == "v1":
        return http.post(f"{server.base_url}{V1_PATH}", json=v1_body(n))
    return http.post(f"{server.v2_base_url}{V2_PATH}", json=v2_body(f"dialer:{n}"))


def stored(server: SandboxServer, api: str) -> int:
    return server.store.count_v1() if api == "v1" else server.store.count_v2()


def counts(**nonzero: int) -> dict[str, int]:
    return {**ZERO_COUNTS, **nonzero}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status and problem["detail"]
    assert problem["request_id"] == response.headers["X-Request-Id"]
    return problem


# ---- configuration ---------------------------------------------------------------------------


def test_faults_are_off_by_default() -> None:
    config = SandboxConfig()
    assert (config.seed, config.latency_ms, config.read_timeout_s) == (0, 0.0, 5.0)
    assert config.error_rate == config.lost_response_rate == config.read_timeout_rate == 0.0
    assert config.media_timeout_rate == 0.0
    assert (config.storm_every, config.storm_length) == (0, 0)


@pytest.mark.parametrize(
    ("faults", "names"),
    [
        ({"error_rate": 1.5}, "error_rate"),
        ({"lost_response_rate": -0.1}, "lost_response_rate"),
        ({"read_timeout_rate": float("nan")}, "read_timeout_rate"),
        ({"media_timeout_rate": 2.0}, "media_timeout_rate"),
        ({"latency_ms": -1.0}, "latency_ms"),
        ({"read_timeout_s": -1.0}, "read_timeout_s"),
        ({"storm_every": 3, "storm_length": 4}, "storm_length"),
        ({"storm_length": 1}, "storm_length"),
    ],
)
def test_bad_fault_settings_name_the_field(faults: dict[str, Any], names: str) -> None:
    with pytest.raises(ValueError, match=names):
        faulty(**faults)


# ---- each fault alone ------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_error_rate_answers_500_and_stores_nothing(serve: Any, api: str) -> None:
    server = serve(faulty(error_rate=1.0))
    with client(server.base_url) as http:
        response = create(server, api, 1, http)
    assert response.status_code == 500, response.text
    if api == "v2":
        assert "nothing was stored" in assert_problem(response, 500)["detail"]
    else:
        body = response.json()
        assert (body["status"], body["category"]) == ("error", "INTERNAL_ERROR")
        assert body["correlationId"] and "nothing was stored" in body["message"]
        assert response.headers["X-HubSpot-RateLimit-Remaining"]
    assert stored(server, api) == 0
    assert server.fault_counts() == counts(requests=1, errors_500=1)


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_lost_response_stores_but_the_client_gets_no_answer(
    serve: Any, api: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(faulty(lost_response_rate=1.0))
    with caplog.at_level(logging.WARNING), client(server.base_url) as http, pytest.raises(LOST):
        create(server, api, 1, http)
    assert stored(server, api) == 1
    assert server.fault_counts() == counts(requests=1, created=1, lost_responses=1)
    # The connection was closed on purpose: uvicorn neither answered 500 nor logged an error.
    assert not [r for r in caplog.records if r.name.startswith("uvicorn")]


def test_lost_v2_response_then_resend_answers_200_existing(serve: Any, tmp_path: Path) -> None:
    store = str(tmp_path / "sandbox.sqlite")
    lossy = serve(faulty(lost_response_rate=1.0, store_path=store))
    with client(lossy.v2_base_url) as http, pytest.raises(LOST):
        http.post(V2_PATH, json=v2_body("dialer:lost"))
    lossy.stop()
    healthy = serve(faulty(store_path=store))  # the same workspace, the network healed
    with client(healthy.v2_base_url) as http:
        resent = http.post(V2_PATH, json=v2_body("dialer:lost"))
    assert resent.status_code == 200, resent.text
    assert [e["external_id"] for e in healthy.store.v2_engagements()] == ["dialer:lost"]
    assert resent.json()["id"] == healthy.store.v2_engagements()[0]["id"]


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_read_timeout_stores_and_answers_too_late(serve: Any, api: str) -> None:
    server = serve(faulty(read_timeout_rate=1.0, read_timeout_s=2.0))
    started = time.monotonic()
    with client(server.base_url, read_timeout=0.5) as http, pytest.raises(httpx.ReadTimeout):
        create(server, api, 1, http)
    assert time.monotonic() - started < 1.5
    assert stored(server, api) == 1
    assert server.fault_counts() == counts(requests=1, created=1, read_timeouts=1)


def test_read_timeout_answer_arrives_after_read_timeout_s(serve: Any) -> None:
    server = serve(faulty(read_timeout_rate=1.0, read_timeout_s=0.3))
    with client(server.v2_base_url) as http:
        started = time.monotonic()
        response = http.post(V2_PATH, json=v2_body())
        elapsed = time.monotonic() - started
    assert response.status_code == 201, response.text
    assert 0.3 <= elapsed < 1.5


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_storm_throttles_exactly_storm_length_of_every_storm_every(serve: Any, api: str) -> None:
    server = serve(faulty(storm_every=10, storm_length=3))
    with client(server.base_url) as http:
        responses = [create(server, api, n, http) for n in range(30)]
    statuses = [r.status_code for r in responses]
    ok = 200 if api == "v1" else 201
    assert statuses == ([ok] * 7 + [429] * 3) * 3
    for limited in (r for r in responses if r.status_code == 429):
        if api == "v2":
            assert limited.headers["Retry-After"] == "1"
            assert_problem(limited, 429)
        else:
            body = limited.json()
            assert body["policyName"] == "TEN_SECONDLY_ROLLING"
            assert body["errorType"] == "RATE_LIMIT" and body["correlationId"]
            assert body["message"] == "You have reached your ten_secondly_rolling limit."
            assert limited.headers["X-HubSpot-RateLimit-Remaining"] == "0"
            assert limited.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert stored(server, api) == 21
    assert server.fault_counts() == counts(requests=30, created=21, throttled_429=9)


def test_media_timeout_answers_422_and_stores_nothing(serve: Any) -> None:
    server = serve(faulty(media_timeout_rate=1.0))
    with client(server.base_url) as http:
        timed_out = http.post(f"/api{V2_PATH}", json=v2_body())
        invalid = http.post(f"/api{V2_PATH}", json={**v2_body(), "type": "EMAIL"})
        v1 = http.post(V1_PATH, json=v1_body())  # v2 only: v1 has no media download
    problem = assert_problem(timed_out, 422)
    assert "Media download timed out" in problem["detail"]
    assert problem["errors"][0]["code"] == "media_download_timeout"
    assert problem["errors"][0]["field"] == "media_url"
    assert assert_problem(invalid, 422)["errors"][0]["code"] == "invalid_enum"
    assert v1.status_code == 200, v1.text
    assert (server.store.count_v2(), server.store.count_v1()) == (0, 1)
    assert server.fault_counts() == counts(requests=3, created=1, media_timeouts=1)


def test_v1_daily_limit_refuses_every_further_request(serve: Any) -> None:
    server = serve(replace(CALM, v1_daily_limit=2))
    with client(server.base_url) as http:
        first = http.post(V1_PATH, json=v1_body(1)).json()["engagement"]["id"]
        assert http.post(V1_PATH, json=v1_body(2)).status_code == 200
        further = [
            http.post(V1_PATH, json=v1_body(3)),
            http.get(f"{V1_PATH}/paged"),
            http.get(f"{V1_PATH}/{first}"),
            http.patch(f"{V1_PATH}/{first}", json={"metadata": {"body": "x"}}),
            http.post(V1_PATH, json=v1_body(4)),
        ]
    for response in further:
        assert response.status_code == 429, response.text
        body = response.json()
        assert set(body) == {"status", "message", "errorType", "policyName", "correlationId"}
        assert (body["status"], body["errorType"]) == ("error", "RATE_LIMIT")
        assert (body["policyName"], body["message"]) == (
            "DAILY",
            "You have reached your daily limit.",
        )
        assert response.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    assert server.store.count_v1() == 2


# ---- latency, reads, replay, stats -----------------------------------------------------------


def test_latency_delays_creates_without_stalling_the_server(serve: Any) -> None:
    server = serve(faulty(latency_ms=200.0))
    with client(server.base_url) as http, ThreadPoolExecutor(max_workers=50) as pool:
        started = time.monotonic()
        statuses = list(pool.map(lambda n: create(server, "v2", n, http).status_code, range(50)))
        elapsed = time.monotonic() - started
        read_started = time.monotonic()
        assert http.get(f"/api{V2_PATH}").status_code == 200
        read_elapsed = time.monotonic() - read_started
    assert statuses == [201] * 50
    assert 0.2 <= elapsed < 1.5, f"50 concurrent creates at 200 ms took {elapsed:.2f} s"
    assert read_elapsed < 0.2  # reads carry no latency
    assert server.store.count_v2() == 50


def test_faults_never_touch_reads_or_admin_routes(serve: Any) -> None:
    server = serve(
        faulty(
            error_rate=1.0,
            lost_response_rate=1.0,
            read_timeout_rate=1.0,
            media_timeout_rate=1.0,
            storm_every=1,
            storm_length=1,
        )
    )
    with client(server.base_url, read_timeout=1.0) as http:
        reads = [
            http.get(f"{V1_PATH}/paged"),
            http.get(f"{V1_PATH}/recent/modified"),
            http.get(f"/api{V2_PATH}"),
            http.get("/_sandbox/engagements"),
            http.get("/_sandbox/stats"),
        ]
        assert create(server, "v2", 1, http).status_code == 429  # the storm comes first
    assert [r.status_code for r in reads] == [200] * 5
    assert server.fault_counts() == counts(requests=1, throttled_429=1)


def outcomes(server: SandboxServer, n: int) -> list[str]:
    """What the client saw for n creates alternating v1 and v2, with some v2 resends."""
    seen = []
    with client(server.base_url, read_timeout=0.4) as http:
        for i in range(n):
            api = "v1" if i % 2 else "v2"
            try:
                seen.append(f"{api}:{create(server, api, i % 7, http).status_code}")
            except httpx.TransportError as exc:
                seen.append(f"{api}:{type(exc).__name__}")
    return seen


def test_same_seed_replays_the_same_faults(serve: Any) -> None:
    rates = dict.fromkeys(
        ("error_rate", "lost_response_rate", "read_timeout_rate", "media_timeout_rate"), 0.3
    )
    config = faulty(seed=20240415, read_timeout_s=1.0, **rates)
    first, second = serve(config), serve(config)
    other = serve(replace(config, seed=7))
    replayed = outcomes(first, 40)
    assert outcomes(second, 40) == replayed
    assert first.fault_counts() == second.fault_counts()
    assert outcomes(other, 40) != replayed
    kinds = {o.split(":")[1] for o in replayed}
    assert {"201", "200", "500", "422", "RemoteProtocolError", "ReadTimeout"} <= kinds, replayed


def test_stats_endpoint_counts_and_reset_zeroes_it(serve: Any) -> None:
    server = serve(faulty(storm_every=4, storm_length=1))
    with client(server.base_url) as http:
        statuses = [create(server, "v2", n, http).status_code for n in (1, 2, 3, 4)]
        statuses.append(create(server, "v2", 1, http).status_code)  # a resend
        statuses.append(http.post(f"/api{V2_PATH}", json={"type": "CALL"}).status_code)
        stats = http.get("/_sandbox/stats")
        direct = server.fault_counts()
        anonymous = httpx.get(f"{server.base_url}/_sandbox/stats", trust_env=False)
        assert http.post("/_sandbox/reset").status_code == 200
        after_reset = http.get("/_sandbox/stats").json()
    assert statuses == [201, 201, 201, 429, 200, 422]
    expected = counts(requests=6, created=3, existing=1, throttled_429=1)
    assert stats.status_code == 200
    assert stats.json() == expected == direct
    assert anonymous.status_code == 401
    assert after_reset == ZERO_COUNTS
