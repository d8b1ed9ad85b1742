"""The sandbox's CRM objects API (calls, meetings), search and properties API on 127.0.0.1.

The contract is docs/hubspot_objects.md: each test names the note's section (or assumption Ann)
whose rule it checks, and test_every_enforced_figure_is_stated_in_the_note checks that the
sandbox's limits and enumerations appear in the note.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from destinations.sandbox import SandboxConfig, SandboxServer, crm_schema, crm_search

TOKEN, OTHER = "crm-token", "crm-other"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = SandboxConfig(
    token=TOKEN,
    tenants=((OTHER, 777),),
    v1_requests_per_10s=1_000_000,
    v1_daily_limit=10_000_000,
    search_requests_per_second=1_000_000.0,
    missing_association_ids=("999",),
)
V = "/crm/objects/2026-03"
PROPS = "/crm/properties/2026-03"
EXT = "engagement_sync_external_id"
TS = "2024-04-15T14:00:00.000Z"
MS = 1_713_189_600_000
NOTE = Path(__file__).resolve().parents[2] / "docs" / "hubspot_objects.md"


def _client(base: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> Any:
    return httpx.Client(base_url=base, headers=headers, timeout=timeout, trust_env=False)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(CONFIG) as s:
        yield s


@pytest.fixture(scope="module")
def session(server: SandboxServer) -> Iterator[httpx.Client]:
    with _client(server.base_url, AUTH) as c:
        yield c


@pytest.fixture
def api(server: SandboxServer, session: httpx.Client) -> httpx.Client:
    server.store.reset()
    server.app.state.crm.clock = time.time
    return session


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start sandboxes with some settings changed, each with a client; all stopped after."""
    servers: list[SandboxServer] = []
    clients: list[httpx.Client] = []

    def start(**changes: Any) -> tuple[SandboxServer, httpx.Client]:
        servers.append(SandboxServer(replace(CONFIG, **changes)).start())
        clients.append(_client(servers[-1].base_url, AUTH))
        return servers[-1], clients[-1]

    yield start
    for c in clients:
        c.close()
    for s in servers:
        s.stop()


def call(tid: str | None = "t1", ext: str | None = None, **props: str) -> dict[str, Any]:
    properties = {"hs_timestamp": TS, "hs_call_title": "Intro", **props}
    if ext is not None:
        properties[EXT] = ext
    item: dict[str, Any] = {
        "properties": properties,
        "associations": [
            {
                "to": {"id": "501"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}],
            }
        ],
    }
    if tid is not None:
        item["objectWriteTraceId"] = tid
    return item


def setup_property(api: httpx.Client, kind: str = "calls", unique: bool = True) -> None:
    body = {
        "name": EXT,
        "label": "x",
        "type": "string",
        "fieldType": "text",
        "groupName": "engagement_sync",
        "hasUniqueValue": unique,
    }
    assert api.post(f"{PROPS}/{kind}", json=body).status_code == 201


def create(api: httpx.Client, *inputs: dict[str, Any], kind: str = "calls") -> httpx.Response:
    return api.post(f"{V}/{kind}/batch/create", json={"inputs": list(inputs)})


def search(api: httpx.Client, kind: str = "calls", **body: Any) -> httpx.Response:
    return api.post(f"{V}/{kind}/search", json=body)


def in_filter(*values: str, op: str = "IN") -> list[dict[str, Any]]:
    return [{"filters": [{"propertyName": EXT, "operator": op, "values": list(values)}]}]


# ---- 3.1-3.3 batch create ---------------------------------------------------------------


def test_create_201_echoes_properties_and_is_the_v1_engagement(
    api: httpx.Client, server: SandboxServer
) -> None:
    """3.2 result shape; A1 one object: the v1 API reads what the objects API created."""
    r = create(api, call("a", hs_call_duration="3800", hs_call_status="COMPLETED"), call("b"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "COMPLETE" and body["startedAt"] and body["completedAt"]
    by_trace = {x["objectWriteTraceId"]: x for x in body["results"]}
    a = by_trace["a"]
    assert a["archived"] is False and a["createdAt"] and a["updatedAt"]
    assert a["properties"]["hs_call_duration"] == "3800"
    assert a["properties"]["hs_timestamp"] == TS
    assert a["properties"]["hs_object_id"] == a["id"]
    assert {"hs_createdate", "hs_lastmodifieddate"} <= set(a["properties"])
    v1 = api.get(f"/engagements/v1/engagements/{a['id']}").json()
    assert v1["engagement"]["type"] == "CALL" and v1["engagement"]["timestamp"] == MS
    assert v1["metadata"] == {"title": "Intro", "durationMilliseconds": 3800, "status": "COMPLETED"}
    assert v1["associations"]["contactIds"] == [501]
    assert server.store.count_v1() == 2


def test_create_over_100_inputs_is_400(api: httpx.Client, server: SandboxServer) -> None:
    """3.1: 'limited to 100 inputs per request'."""
    r = create(api, *(call(f"t{i}") for i in range(101)))
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert server.store.count_v1() == 0


def _assoc(type_id: int, to: str = "501", category: str = "HUBSPOT_DEFINED") -> list[dict]:
    return [
        {
            "to": {"id": to},
            "types": [{"associationCategory": category, "associationTypeId": type_id}],
        }
    ]


BAD_INPUTS = [
    ("4.1-required-hs_timestamp", {"hs_timestamp": ""}, None, None),
    ("3.4-unknown-property", {"testproperty": "x"}, None, "PROPERTY_DOESNT_EXIST"),
    ("3.1-values-are-strings", {"hs_call_duration": 3800}, None, None),
    ("4.1-status-enum", {"hs_call_status": "completed"}, None, None),
    ("4.1-direction-enum", {"hs_call_direction": "IN"}, None, None),
    ("4.1-disposition-guid", {"hs_call_disposition": "Connected"}, None, None),
    ("4.1-recording-https", {"hs_call_recording_url": "http://x.example/a.mp3"}, None, None),
    ("4.1-duration-ms-number", {"hs_call_duration": "38s"}, None, None),
    ("4.1-timestamp-format", {"hs_timestamp": "yesterday"}, None, None),
    ("4.3-65536-chars", {"hs_call_body": "x" * 65_537}, None, None),
    ("5-meeting-type-id-on-call", {}, _assoc(200), None),
    ("5-category", {}, _assoc(194, category="USER_DEFINED"), None),
    ("11-target-must-exist", {}, _assoc(194, to="999"), None),
    ("3.1-associations-required", {}, "drop", None),
]


@pytest.mark.parametrize(
    ("props", "assoc", "code"), [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS]
)
def test_invalid_input_is_a_per_input_error_in_a_207(
    api: httpx.Client, server: SandboxServer, props: dict, assoc: Any, code: str | None
) -> None:
    """3.3: with trace ids one bad input fails alone, named by context.objectWriteTraceId."""
    bad = call("bad")
    bad["properties"].update(props)
    if assoc == "drop":
        del bad["associations"]
    elif assoc is not None:
        bad["associations"] = assoc
    r = create(api, call("good"), bad)
    assert r.status_code == 207, r.text
    body = r.json()
    assert [x["objectWriteTraceId"] for x in body["results"]] == ["good"]
    assert body["numErrors"] == 1
    [error] = body["errors"]
    assert error["category"] == "VALIDATION_ERROR"
    assert error["context"]["objectWriteTraceId"] == ["bad"]
    assert error["message"].startswith("Property values were not valid")
    if code:
        assert error["errors"][0]["code"] == code
    assert server.store.count_v1() == 1


def test_create_without_trace_ids_is_all_or_nothing(
    api: httpx.Client, server: SandboxServer
) -> None:
    """A12: no objectWriteTraceId (or a repeated one): one bad input, 400, nothing stored."""
    bad = call(None, hs_call_status="DONE")
    assert create(api, call(None), bad).status_code == 400
    assert create(api, call("same"), call("same", hs_call_status="DONE")).status_code == 400
    assert server.store.count_v1() == 0
    assert create(api, call(None), call(None)).status_code == 201


def test_meetings_timestamp_defaults_to_start_and_outcomes(api: httpx.Client, serve: Any) -> None:
    """4.2: hs_timestamp defaults to hs_meeting_start_time; outcomes; A18 custom outcomes."""
    meeting = {
        "objectWriteTraceId": "m",
        "associations": _assoc(200),
        "properties": {"hs_meeting_start_time": TS, "hs_meeting_outcome": "NO_SHOW"},
    }
    r = create(api, meeting, kind="meetings")
    assert r.status_code == 201, r.text
    assert r.json()["results"][0]["properties"]["hs_timestamp"] == TS
    meeting["properties"]["hs_meeting_outcome"] = "LATE"
    assert create(api, meeting, kind="meetings").status_code == 207
    _, client = serve(custom_meeting_outcomes=("LATE",))
    assert create(client, meeting, kind="meetings").status_code == 201


# ---- A11 unique values --------------------------------------------------------------------


def test_unique_value_conflicts(api: httpx.Client, server: SandboxServer) -> None:
    """A11: a unique value held by another object is a per-input error, 400 untraced."""
    setup_property(api)
    assert create(api, call("a", ext="x:1")).status_code == 201
    r = create(api, call("b", ext="x:1"), call("c", ext="x:2"), call("d", ext="x:2"))
    assert r.status_code == 207
    failed = sorted(e["context"]["objectWriteTraceId"][0] for e in r.json()["errors"])
    assert failed == ["b", "d"]
    assert all("already has that value" in e["message"] for e in r.json()["errors"])
    assert create(api, call(None, ext="x:1")).status_code == 400
    portal = CONFIG.portal_id
    assert server.store.count_by_property(portal, EXT, "x:1") == 1
    assert server.store.count_by_property(portal, EXT, "x:2") == 1
    other = next(o for o in server.store.crm_objects(portal) if o["properties"][EXT] == "x:2")
    update = {
        "inputs": [{"id": str(other["id"]), "objectWriteTraceId": "u", "properties": {EXT: "x:1"}}]
    }
    r = api.post(f"{V}/calls/batch/update", json=update)
    assert r.status_code == 207 and "already has that value" in r.json()["errors"][0]["message"]


# ---- section 2 batch read / update / upsert -------------------------------------------------


def test_batch_read_by_id_and_id_property(api: httpx.Client) -> None:
    """2 batch read (required properties, propertiesWithHistory); A14 missing ids; A15."""
    setup_property(api)
    made = create(api, call("a", ext="x:1")).json()["results"][0]
    read = {
        "inputs": [{"id": made["id"]}, {"id": "1"}],
        "properties": [EXT],
        "propertiesWithHistory": [],
    }
    r = api.post(f"{V}/calls/batch/read", json=read)
    assert r.status_code == 207
    assert r.json()["results"][0]["properties"][EXT] == "x:1"
    [error] = r.json()["errors"]
    assert (error["category"], error["context"]["ids"]) == ("OBJECT_NOT_FOUND", ["1"])
    by_value = {**read, "idProperty": EXT, "inputs": [{"id": "x:1"}]}
    r = api.post(f"{V}/calls/batch/read", json=by_value)
    assert r.status_code == 200 and r.json()["results"][0]["id"] == made["id"]
    assert (
        api.post(
            f"{V}/calls/batch/read", json={**by_value, "idProperty": "hs_call_title"}
        ).status_code
        == 400
    )
    del read["propertiesWithHistory"]
    assert api.post(f"{V}/calls/batch/read", json=read).status_code == 400


def test_batch_update_of_a_v1_engagement(api: httpx.Client, server: SandboxServer) -> None:
    """A1 migration: batch update by the v1 id sets the external id on the same object."""
    setup_property(api)
    v1 = {
        "engagement": {"type": "CALL", "timestamp": MS},
        "associations": {"contactIds": [7]},
        "metadata": {"title": "old", "status": "COMPLETED"},
    }
    engagement_id = str(api.post("/engagements/v1/engagements", json=v1).json()["engagement"]["id"])
    update = {
        "inputs": [
            {
                "id": engagement_id,
                "objectWriteTraceId": "u",
                "properties": {EXT: "x:9", "hs_call_title": "new"},
            },
            {"id": "5", "objectWriteTraceId": "v", "properties": {EXT: "x:5"}},
        ]
    }
    r = api.post(f"{V}/calls/batch/update", json=update)
    assert r.status_code == 207
    assert r.json()["results"][0]["properties"][EXT] == "x:9"
    assert r.json()["errors"][0]["context"]["ids"] == ["5"]
    assert (
        api.get(f"/engagements/v1/engagements/{engagement_id}").json()["metadata"]["title"] == "new"
    )
    assert server.store.count_v1() == 1
    by_prop = {"inputs": [{"id": "x:9", "idProperty": EXT, "properties": {"hs_call_body": "b"}}]}
    r = api.post(f"{V}/calls/batch/update", json=by_prop)
    assert r.status_code == 200 and r.json()["results"][0]["id"] == engagement_id


def test_batch_upsert(api: httpx.Client, server: SandboxServer) -> None:
    """2 upsert: by a unique idProperty, `new` per object, no associations."""
    setup_property(api)
    item = {"id": "x:1", "idProperty": EXT, "properties": {"hs_timestamp": TS}}
    first = api.post(f"{V}/calls/batch/upsert", json={"inputs": [item]})
    assert first.status_code == 200 and first.json()["results"][0]["new"] is True
    again = api.post(f"{V}/calls/batch/upsert", json={"inputs": [item]})
    assert again.json()["results"][0]["new"] is False
    assert again.json()["results"][0]["id"] == first.json()["results"][0]["id"]
    with_assoc = {**item, "associations": _assoc(194)}
    assert api.post(f"{V}/calls/batch/upsert", json={"inputs": [with_assoc]}).status_code == 400
    title = {**item, "idProperty": "hs_call_title"}
    assert api.post(f"{V}/calls/batch/upsert", json={"inputs": [title]}).status_code == 400
    assert server.store.count_by_property(CONFIG.portal_id, EXT, "x:1") == 1


# ---- 3.5 search -------------------------------------------------------------------------


def test_search_filters_paging_and_lowercase_rule(api: httpx.Client) -> None:
    """3.5 IN/EQ/HAS_PROPERTY/NOT_HAS_PROPERTY, paging, total; A21 lowercase IN values."""
    setup_property(api)
    r = create(api, *(call(f"t{i}", ext=f"X:{i}") for i in range(12)), call("n"))
    assert r.status_code == 201
    got = search(api, filterGroups=in_filter("x:1", "x:2", "X:3"), properties=[EXT]).json()
    assert sorted(o["properties"][EXT] for o in got["results"]) == ["X:1", "X:2"]
    eq = [{"filters": [{"propertyName": EXT, "operator": "EQ", "value": "x:4"}]}]
    assert search(api, filterGroups=eq).json()["total"] == 1
    has = [{"filters": [{"propertyName": EXT, "operator": "HAS_PROPERTY"}]}]
    page = search(api, filterGroups=has).json()
    assert (page["total"], len(page["results"]), page["paging"]["next"]["after"]) == (12, 10, "10")
    assert set(page["results"][0]["properties"]) == set(crm_schema.DEFAULT_PROPERTIES)
    rest = search(api, filterGroups=has, after="10").json()
    assert len(rest["results"]) == 2 and "paging" not in rest
    nothas = [{"filters": [{"propertyName": EXT, "operator": "NOT_HAS_PROPERTY"}]}]
    assert search(api, filterGroups=nothas).json()["total"] == 1
    sort = [{"propertyName": EXT, "direction": "DESCENDING"}]
    top = search(api, filterGroups=has, sorts=sort, limit=1, properties=[EXT]).json()
    assert top["results"][0]["properties"][EXT] == "X:9"
    oldest = search(api, limit=200).json()["results"]
    assert [int(o["id"]) for o in oldest] == sorted(int(o["id"]) for o in oldest)


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 201},  # 3.5 max 200 per page
        {"after": "ten"},  # 3.5 after is an integer
        {"after": "9900", "limit": 200},  # 11: no paging past 10,000
        {"filterGroups": in_filter(*(f"v{i}" for i in range(101)))},  # A2
        {
            "filterGroups": in_filter(*(f"engagement-sync:{i:024d}" for i in range(90)))
        },  # A3 3,000 chars
        {"sorts": [{"propertyName": "a"}, {"propertyName": "b"}]},  # 3.5 one sort
        {"filterGroups": [{"filters": [{"propertyName": "a", "operator": "HAS_PROPERTY"}]}] * 6},
        {
            "filterGroups": [
                {"filters": [{"propertyName": "a", "operator": "EQ", "value": "1"}] * 7}
            ]
        },  # A4
        {"filterGroups": [{"filters": [{"propertyName": "a", "operator": "LIKE", "value": "1"}]}]},
    ],
    ids=[
        "limit",
        "after",
        "10000",
        "in-values",
        "3000-chars",
        "sorts",
        "groups",
        "filters",
        "operator",
    ],
)
def test_search_refusals(api: httpx.Client, body: dict[str, Any]) -> None:
    r = search(api, **body)
    assert r.status_code == 400, r.text
    assert r.json()["category"] == "VALIDATION_ERROR"


def test_search_lag_hides_fresh_writes_but_batch_read_sees_them(serve: Any) -> None:
    """Section 7 / A8: objects younger than search_lag_s are not found; A15 read is not."""
    server, client = serve(search_lag_s=30.0)
    setup_property(client)
    made = create(client, call("a", ext="x:1")).json()["results"][0]
    assert search(client, filterGroups=in_filter("x:1")).json()["total"] == 0
    read = {"inputs": [{"id": made["id"]}], "properties": [], "propertiesWithHistory": []}
    assert client.post(f"{V}/calls/batch/read", json=read).status_code == 200
    now = time.time()
    server.app.state.crm.clock = lambda: now + 31
    assert search(client, filterGroups=in_filter("x:1")).json()["total"] == 1


def test_search_has_its_own_limit_outside_the_10s_window(serve: Any) -> None:
    """6: search limiter per token, 429 SECONDLY (A5) without rate headers (A7), not in the
    10-second window but counted in the daily usage (A6)."""
    _, client = serve(search_requests_per_second=0.001, v1_requests_per_10s=2)
    assert search(client).status_code == 200
    refused = search(client)
    assert refused.status_code == 429
    assert (
        refused.json()["policyName"] == "SECONDLY" and refused.json()["errorType"] == "RATE_LIMIT"
    )
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in refused.headers)
    usage = client.get("/account-info/2026-03/api-usage/daily/private-apps")
    assert usage.json()["results"][0]["currentUsage"] == 2  # the search and this request
    assert create(client, call("a")).status_code == 201  # second in the 10 s window
    assert create(client, call("b")).json()["policyName"] == "TEN_SECONDLY_ROLLING"


# ---- 3.6 properties API -----------------------------------------------------------------


def test_properties_and_groups(api: httpx.Client) -> None:
    """3.6 PropertyCreate / PropertyGroupCreate; A10 409 OBJECT_ALREADY_EXISTS."""
    assert api.get(f"{PROPS}/calls/{EXT}").status_code == 404
    assert api.get(f"{PROPS}/calls/groups/engagement_sync").status_code == 404
    group = {"name": "engagement_sync", "label": "engagement-sync"}
    assert api.post(f"{PROPS}/calls/groups", json=group).status_code == 201
    assert api.get(f"{PROPS}/calls/groups/engagement_sync").json()["label"] == "engagement-sync"
    again = api.post(f"{PROPS}/calls/groups", json=group)
    assert again.status_code == 409 and again.json()["category"] == "OBJECT_ALREADY_EXISTS"
    setup_property(api)
    prop = api.get(f"{PROPS}/calls/{EXT}").json()
    assert (prop["type"], prop["fieldType"], prop["hasUniqueValue"]) == ("string", "text", True)
    body = {"name": EXT, "label": "x", "type": "string", "fieldType": "text", "groupName": "g"}
    dup = api.post(f"{PROPS}/calls", json=body)
    assert dup.status_code == 409
    assert dup.json()["message"] == f"Property named '{EXT}' already exists."
    assert api.get(f"{PROPS}/meetings/{EXT}").status_code == 404  # per object type
    assert api.post(f"{PROPS}/calls", json={"name": "y"}).status_code == 400
    assert api.get(f"{PROPS}/calls/hs_call_status").json()["type"] == "enumeration"
    names = {p["name"] for p in api.get(f"{PROPS}/calls").json()["results"]}
    assert {EXT, "hs_timestamp", "hs_call_title"} <= names


def test_unique_properties_refused_or_capped(api: httpx.Client, serve: Any) -> None:
    """A9: a switch makes the portal refuse hasUniqueValue; 3.6: ten unique per object."""
    _, refusing = serve(refuse_unique_on_activities=True)
    body = {
        "name": EXT,
        "label": "x",
        "type": "string",
        "fieldType": "text",
        "groupName": "g",
        "hasUniqueValue": True,
    }
    r = refusing.post(f"{PROPS}/calls", json=body)
    assert r.status_code == 400 and "hasUniqueValue" in r.json()["message"]
    for i in range(10):
        assert api.post(f"{PROPS}/calls", json={**body, "name": f"u{i}"}).status_code == 201
    assert api.post(f"{PROPS}/calls", json={**body, "name": "u10"}).status_code == 400


# ---- 6 limits, 11 faults, 9.1 scopes, 1 paths ---------------------------------------------


def test_objects_api_shares_the_v1_limits(serve: Any) -> None:
    """6: one 10-second window per token for v1 and the objects API, headers, DAILY."""
    _, client = serve(v1_requests_per_10s=2)
    v1 = {"engagement": {"type": "NOTE"}, "metadata": {}}
    assert client.post("/engagements/v1/engagements", json=v1).status_code == 200
    ok = create(client, call("a"))
    assert ok.status_code == 201 and ok.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert ok.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert create(client, call("b")).json()["policyName"] == "TEN_SECONDLY_ROLLING"
    _, daily = serve(v1_daily_limit=1)
    assert create(daily, call("a")).status_code == 201
    spent = create(daily, call("b"))
    assert (spent.status_code, spent.json()["policyName"]) == (429, "DAILY")


@pytest.mark.parametrize(
    ("faults", "status", "stored"),
    [
        ({"error_rate": 1.0}, 500, 0),
        ({"locked_rate": 1.0}, 423, 0),
        ({"storm_every": 1, "storm_length": 1}, 429, 0),
    ],
    ids=["5xx", "423", "storm"],
)
def test_faults_before_storing(serve: Any, faults: dict, status: int, stored: int) -> None:
    """11: 5xx, 423 and 429 storms store nothing."""
    server, client = serve(**faults)
    assert create(client, call("a")).status_code == status
    assert server.store.count_v1() == stored


def test_lost_response_and_read_timeout_after_storing(serve: Any) -> None:
    """11: lost responses and timeouts happen after the objects are committed; watch_creates
    fires once per created object with "hubspot" (the crash harness's kill points)."""
    server, client = serve(lost_response_rate=1.0)
    seen: list[str] = []
    server.store.watch_creates(seen.append)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        create(client, call("a"), call("b"))
    assert server.store.count_v1() == 2 and seen == ["hubspot", "hubspot"]
    assert server.fault_counts()["lost_responses"] == 1
    slow, _ = serve(read_timeout_rate=1.0, read_timeout_s=30.0)
    committed = threading.Event()
    slow.store.watch_creates(lambda api: committed.set())
    with _client(slow.base_url, AUTH, timeout=0.5) as impatient, pytest.raises(httpx.ReadTimeout):
        create(impatient, call("a"))
    assert committed.wait(10)  # stored although the answer never came in time
    assert slow.store.count_v1() == 1


def test_scopes_and_paths(serve: Any, api: httpx.Client) -> None:
    """9.1 MISSING_SCOPES with the scopes the endpoint needs; 1 only the configured version."""
    server, _ = serve(token_scopes=((TOKEN, ("crm.objects.contacts.read",)),))
    with _client(server.base_url, AUTH) as reader:
        denied = create(reader, call("a"))
        assert denied.status_code == 403 and denied.json()["category"] == "MISSING_SCOPES"
        assert search(reader).status_code == 200
    assert api.post("/crm/v3/objects/calls/batch/create", json={"inputs": []}).status_code == 404
    assert api.post("/crm/objects/2026-09/calls/search", json={}).status_code == 404
    assert api.post(f"{V}/emails/search", json={}).status_code == 404


# ---- A1 v1 objects, tenants ---------------------------------------------------------------


def test_v1_engagements_are_objects_with_their_properties(api: httpx.Client) -> None:
    """A1: v1 calls and meetings read through the objects API with derived properties."""
    metadata = {
        "title": "T",
        "body": "B",
        "durationMilliseconds": 38000,
        "fromNumber": "+1",
        "toNumber": "+2",
        "status": "COMPLETED",
        "recordingUrl": "https://r/1.mp3",
        "disposition": crm_schema.CALL_DISPOSITIONS[1],
    }
    v1 = {"engagement": {"type": "CALL", "timestamp": MS, "ownerId": 42}, "metadata": metadata}
    call_id = str(api.post("/engagements/v1/engagements", json=v1).json()["engagement"]["id"])
    meeting = {
        "engagement": {"type": "MEETING", "timestamp": MS},
        "metadata": {"title": "M", "body": "MB", "startTime": MS, "endTime": MS + 60_000},
    }
    meeting_id = str(
        api.post("/engagements/v1/engagements", json=meeting).json()["engagement"]["id"]
    )
    names = [
        "hs_call_title",
        "hs_call_body",
        "hs_call_duration",
        "hs_call_from_number",
        "hs_call_to_number",
        "hs_call_status",
        "hs_call_recording_url",
        "hs_call_disposition",
        "hs_timestamp",
        "hubspot_owner_id",
    ]
    read = {"inputs": [{"id": call_id}], "properties": names, "propertiesWithHistory": []}
    props = api.post(f"{V}/calls/batch/read", json=read).json()["results"][0]["properties"]
    assert [props[n] for n in names] == [
        "T",
        "B",
        "38000",
        "+1",
        "+2",
        "COMPLETED",
        "https://r/1.mp3",
        crm_schema.CALL_DISPOSITIONS[1],
        TS,
        "42",
    ]
    read = {
        "inputs": [{"id": meeting_id}, {"id": call_id}],
        "properties": ["hs_meeting_title", "hs_meeting_end_time"],
        "propertiesWithHistory": [],
    }
    r = api.post(f"{V}/meetings/batch/read", json=read).json()
    assert r["results"][0]["properties"]["hs_meeting_end_time"] == "2024-04-15T14:01:00.000Z"
    assert r["errors"][0]["context"]["ids"] == [call_id]  # a call is not a meeting
    assert search(api, limit=5).json()["total"] == 1


def test_two_tenants_are_isolated(api: httpx.Client, server: SandboxServer) -> None:
    """Each token is its own portal: objects, properties and unique values are its own."""
    setup_property(api)
    made = create(api, call("a", ext="x:1")).json()["results"][0]
    with _client(server.base_url, {"Authorization": f"Bearer {OTHER}"}) as other:
        assert other.get(f"{PROPS}/calls/{EXT}").status_code == 404
        setup_property(other)
        assert create(other, call("a", ext="x:1")).status_code == 201
        read = {"inputs": [{"id": made["id"]}], "properties": [], "propertiesWithHistory": []}
        assert other.post(f"{V}/calls/batch/read", json=read).status_code == 207
        assert search(other).json()["total"] == 1
    assert server.store.count_by_property(777, EXT, "x:1") == 1
    assert server.store.count_by_property(CONFIG.portal_id, EXT, "x:1") == 1


# ---- the note is the contract -------------------------------------------------------------


def test_every_enforced_figure_is_stated_in_the_note() -> None:
    """Each limit, id and enumeration the sandbox enforces is written in the note."""
    note = NOTE.read_text()
    text = note.replace(",", "")
    figures = [
        crm_schema.MAX_BATCH_INPUTS,
        crm_schema.MAX_STRING_CHARS,
        crm_search.MAX_BODY_CHARS,
        crm_search.MAX_LIMIT,
        crm_search.MAX_RESULTS,
        crm_search.DEFAULT_LIMIT,
        crm_search.MAX_GROUPS,
        crm_search.MAX_FILTERS,
        crm_search.MAX_FILTERS_PER_GROUP,
        CONFIG.search_in_max_values,
    ]
    for figure in figures:
        assert re.search(rf"\b{figure}\b", text), figure
    assert "up to ten unique ID properties per object" in note
    assert "five_ requests per second per account" in note
    for ids in crm_schema.ASSOCIATION_TYPE_IDS.values():
        for type_id in ids:
            assert f"**{type_id}**" in note
    values = [
        *crm_schema.CALL_DISPOSITIONS,
        *crm_schema.CALL_DIRECTIONS,
        *crm_schema.MEETING_OUTCOMES,
        *crm_search.OPERATORS,
        *crm_schema.PROPERTY_TYPES,
        "SECONDLY",
        "TEN_SECONDLY_ROLLING",
        "DAILY",
        "OBJECT_ALREADY_EXISTS",
        "OBJECT_NOT_FOUND",
        "PROPERTY_DOESNT_EXIST",
        "MISSING_SCOPES",
    ]
    for value in values:
        assert value in note, value
    for status in crm_schema.CALL_STATUSES:
        assert f"`{status}`" in note, status
    assert json.loads('"x"') == "x"
