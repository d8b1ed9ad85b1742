"""The v1 look-up's choice of requests (portal_scan.py), against the real sandbox: an empty
portal costs one request, a big portal whose pending records all have contacts is read per
contact once the scan has cost as much, and a record without a contact gets the whole scan."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from destinations.engagements.client import EngagementsClient
from destinations.engagements.portal_scan import find_existing
from destinations.sandbox import SandboxServer


def call(n: int, contact: int | None) -> dict[str, Any]:
    return {
        "engagement": {"type": "CALL", "timestamp": 1_700_000_000_000 + n * 1000},
        "associations": {"contactIds": [contact] if contact else []},
        "metadata": {
            "toNumber": f"+1415555{n:04d}",
            "fromNumber": "+14155550100",
            "durationMilliseconds": 1000 + n,
            "title": f"Call {n}",
        },
    }


@pytest.fixture
def client(sandbox: SandboxServer) -> Any:
    with_client = EngagementsClient("v1", sandbox.base_url, sandbox.config.token, timeout=10)
    yield with_client
    with_client.close()


def create(client: EngagementsClient, bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        assert client.create(orjson.dumps(body)).status == 200


def test_an_empty_portal_costs_one_request(client: EngagementsClient) -> None:
    lookup = find_existing(client, {f"x:{n}": call(n, 7) for n in range(50)}, set())
    assert (lookup.found, lookup.requests) == ({}, 1)


def test_a_big_portal_is_read_per_contact_when_that_is_cheaper(client: EngagementsClient) -> None:
    create(client, [call(n, 1000 + n) for n in range(600)])  # others' engagements: 3 pages
    mine = {f"x:{n}": call(n, 7) for n in range(600, 610)}  # one contact
    create(client, list(mine.values())[:6])
    lookup = find_existing(client, mine, set())
    assert sorted(lookup.found) == sorted(list(mine)[:6])
    assert lookup.requests == 2  # one scan page (= distinct contacts), then the contact's page


def test_a_record_without_a_contact_gets_the_whole_scan(client: EngagementsClient) -> None:
    create(client, [call(n, 1000 + n) for n in range(600)])
    mine = {"x:900": call(900, None), "x:901": call(901, 7)}
    create(client, [mine["x:900"]])
    lookup = find_existing(client, mine, set())
    assert list(lookup.found) == ["x:900"]
    assert lookup.requests == 3  # every page of the portal: 601 engagements, 250 a page
