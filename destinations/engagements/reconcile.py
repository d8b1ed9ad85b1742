"""v1 reconciliation: before resending a v1 request whose outcome is unknown, look it up.

HubSpot v1 has no idempotency key and ignores metadata.externalId on API-created engagements
(seed 001), so a match is made on what v1 stores: type, timestamp, and for calls the numbers,
duration and title; for meetings the title and start/end times.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from destinations.engagements.client import EngagementsClient
from destinations.engagements.outcomes import classify
from sources.errors import TransientError

_CALL_KEYS = ("toNumber", "fromNumber", "durationMilliseconds", "title")
_NUMBER_KEYS = ("toNumber", "fromNumber")  # compared by their digits: HubSpot may reformat
_MEETING_KEYS = ("title", "startTime", "endTime")
MAX_PAGES = 50
LOOKBACK_MS = 10 * 60 * 1000


def matches(sent: dict[str, Any], found: dict[str, Any]) -> bool:
    """True when `found` (a v1 engagement read back) is the engagement `sent` would create."""
    mine, theirs = sent.get("engagement", {}), found.get("engagement", {})
    if mine.get("type") != theirs.get("type") or mine.get("timestamp") != theirs.get("timestamp"):
        return False
    keys = _CALL_KEYS if mine.get("type") == "CALL" else _MEETING_KEYS
    meta_sent, meta_found = sent.get("metadata", {}), found.get("metadata", {})
    return all(_same(k, meta_sent.get(k), meta_found.get(k)) for k in keys if k in meta_sent)


def _same(key: str, mine: Any, theirs: Any) -> bool:
    if key in _NUMBER_KEYS and isinstance(mine, str) and isinstance(theirs, str):
        return _digits(mine) == _digits(theirs)
    return bool(mine == theirs)


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def find_engagement(
    client: EngagementsClient, sent: dict[str, Any], intent_ms: int, taken: set[str]
) -> str | None:
    """The id of the engagement `sent` created, or None when confirmed absent."""
    for candidate in _candidates(client, sent, intent_ms):
        engagement_id = str(candidate.get("engagement", {}).get("id"))
        if engagement_id not in taken and matches(sent, candidate):
            return engagement_id
    return None


def _candidates(
    client: EngagementsClient, sent: dict[str, Any], intent_ms: int
) -> Iterator[dict[str, Any]]:
    contacts = sent.get("associations", {}).get("contactIds") or []
    if contacts:
        path = f"/engagements/v1/engagements/associated/CONTACT/{contacts[0]}/paged"
        listing = pages(client, path, {"limit": 100})
    else:
        params = {"count": 100, "since": intent_ms - LOOKBACK_MS}
        listing = pages(client, "/engagements/v1/engagements/recent/modified", params)
    for results, _ in listing:
        yield from results


def pages(
    client: EngagementsClient,
    path: str,
    params: dict[str, Any],
    max_pages: int | None = MAX_PAGES,
) -> Iterator[tuple[list[dict[str, Any]], bool]]:
    """A paged v1 listing (`offset` cursor), one (engagements, more to come) per request; a
    401 or a spent quota stops the run, any other non-200 is transient (nothing confirmed)."""
    offset: Any = 0
    read = 0
    while max_pages is None or read < max_pages:
        response = client.get(path, {**params, "offset": offset})
        read += 1
        if response.status != 200:
            classify("v1", response.status, response.headers, response.content)  # 401, quota
            raise TransientError(f"v1 look-up {path} answered HTTP {response.status}")
        page = response.json() or {}
        more = bool(page.get("hasMore"))
        yield list(page.get("results") or []), more
        if not more:
            return
        offset = page.get("offset")
    raise TransientError(f"v1 look-up {path}: more than {max_pages} pages, not confirmed absent")


def patch_body(request: dict[str, Any], state: Any) -> tuple[str, str | None]:
    """The v1 PATCH for a drifted record: engagement fields and metadata, never associations
    (v1 cannot change them: the note says so when they differ from what was sent)."""
    engagement = {
        k: v
        for k, v in request.get("engagement", {}).items()
        if k in ("timestamp", "ownerId", "active")
    }
    body = {"engagement": engagement, "metadata": request.get("metadata", {})}
    note = "updated after drift"
    last = getattr(state, "last_intent", None)
    if last is not None:
        try:
            before = orjson.loads(last.request_body).get("associations")
        except orjson.JSONDecodeError:
            before = None
        if before is not None and before != request.get("associations"):
            note += "; associations changed but v1 cannot update them (left as first sent)"
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode(), note
