"""HubSpot Engagements v1 emulation: create, read, page and patch engagements.

Every route checks the bearer token first (a 401 consumes no quota), then the rolling 10-second
and daily limits, and answers with the X-HubSpot-RateLimit-* headers. Creates also meet the
configured faults (faults.py): latency first, then storm 429s, 500s, lost and late answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import SandboxConfig
from .faults import Fault, FaultInjector
from .ratelimit import POLICY_TEN_SECONDLY, HubSpotLimiter, V1Decision
from .responses import (
    account_details,
    bearer_token,
    hubspot_error,
    hubspot_rate_limited,
    missing_scopes,
)
from .store import Store
from .v1_schema import (
    ASSOCIATION_KEYS,
    strip_dropped_metadata,
    validate_create,
    validate_metadata,
    validate_patch,
)

PREFIX = "/engagements/v1/engagements"
RECENT_WINDOW_MS = 30 * 24 * 3600 * 1000
_OBJECT_TYPES = ("CONTACT", "COMPANY", "DEAL")
Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    """A request the sandbox answers with a HubSpot 400 VALIDATION_ERROR."""

    def __init__(self, *messages: str) -> None:
        super().__init__(messages[0])
        self.messages = list(messages)


def engagement_json(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row in the shape HubSpot returns (create response, reads, PATCH)."""
    stored = row["associations"]
    # HubSpot's order; workflowIds is deprecated and always empty.
    keys = ("contactIds", "companyIds", "dealIds", "ownerIds", "workflowIds", "ticketIds")
    associations = {k: list(stored.get(k, [])) for k in keys}
    return {
        "engagement": {
            "id": row["id"],
            "portalId": row["portal_id"],
            "active": row["active"],
            "createdAt": row["created_at"],
            "lastUpdated": row["last_updated"],
            "ownerId": row["owner_id"],
            "type": row["type"],
            "timestamp": row["timestamp"],
        },
        "associations": associations,
        "attachments": row["attachments"],
        "metadata": row["metadata"],
    }


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def _read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _BadRequest(f"Invalid input JSON: {exc}") from exc


def _int_param(request: Request, name: str, default: int, lo: int, hi: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"query parameter {name} must be an integer, got {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        bounds = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise _BadRequest(f"query parameter {name} must be {bounds}, got {value}")
    return value


class V1Api:
    """The v1 routes bound to one sandbox's config, store and limiter."""

    def __init__(
        self,
        config: SandboxConfig,
        store: Store,
        limiter: HubSpotLimiter,
        faults: FaultInjector,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.limiter = limiter
        self.faults = faults
        self._clock = clock

    def routes(self) -> list[Route]:
        """Starlette routes at the server root, like api.hubapi.com."""
        g = self._guarded
        return [
            Route(PREFIX, g(self.create, create=True), methods=["POST"]),
            Route(f"{PREFIX}/paged", g(self.paged), methods=["GET"]),
            Route(f"{PREFIX}/recent/modified", g(self.recent), methods=["GET"]),
            Route(
                PREFIX + "/associated/{object_type}/{object_id:int}/paged",
                g(self.associated),
                methods=["GET"],
            ),
            Route(PREFIX + "/{engagement_id:int}", g(self.get_one), methods=["GET"]),
            Route(PREFIX + "/{engagement_id:int}", g(self.patch), methods=["PATCH"]),
            Route("/account-info/{version}/details", g(self.account), methods=["GET"]),
        ]

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _guarded(self, handler: Handler, create: bool = False) -> Handler:
        """Wrap a handler with auth, the rate limits and their headers, and (creates) faults."""

        async def endpoint(request: Request) -> Response:
            if create:
                await self.faults.delay()
            token = bearer_token(request.headers.get("authorization"))
            portal = self.config.portal_of(token)
            if token is None or portal is None:
                return hubspot_error(
                    401,
                    "Authentication credentials not found or invalid; "
                    "send Authorization: Bearer <private app access token>",
                    "INVALID_AUTHENTICATION",
                )
            request.state.portal = portal
            reading = request.method == "GET" and not request.url.path.startswith("/account-")
            if reading and token in self.config.write_only:
                return missing_scopes(["crm.objects.contacts.read"])
            decision = self.limiter.acquire(token)
            if decision.policy is not None:
                return hubspot_rate_limited(decision.policy, decision.headers())
            fault = self.faults.decide("v1") if create else Fault.NONE
            early = _fault_response(fault, decision)
            try:
                response = early if early is not None else await handler(request)
            except _BadRequest as exc:
                response = hubspot_error(
                    400, exc.messages[0], "VALIDATION_ERROR", errors=exc.messages
                )
            if create and response.status_code == 200:
                self.faults.count("created")
                response = await self.faults.deliver(request, fault, response)
            for name, value in decision.headers().items():
                response.headers.setdefault(name, value)
            return response

        return endpoint

    async def create(self, request: Request) -> Response:
        """POST /engagements/v1/engagements: validate, drop ignored metadata, store."""
        body = await _read_json(request)
        errors = validate_create(body)
        if errors:
            raise _BadRequest(*errors)
        now = self._now_ms()
        engagement = body["engagement"]
        associations = body.get("associations") or {}
        row = {
            "portal_id": request.state.portal,
            "type": engagement["type"],
            "timestamp": engagement.get("timestamp", now),
            "owner_id": engagement.get("ownerId"),
            "active": engagement.get("active", True),
            "created_at": now,
            "last_updated": now,
            "associations": {k: list(associations.get(k, [])) for k in ASSOCIATION_KEYS},
            "attachments": body.get("attachments") or [],
            "metadata": strip_dropped_metadata(body["metadata"]),
        }
        return JSONResponse(engagement_json(self.store.insert_v1(row)))

    async def get_one(self, request: Request) -> Response:
        """GET /engagements/v1/engagements/{id}."""
        engagement_id = request.path_params["engagement_id"]
        row = self.store.get_v1(engagement_id, request.state.portal)
        if row is None:
            return _not_found(engagement_id)
        return JSONResponse(engagement_json(row))

    async def paged(self, request: Request) -> Response:
        """GET .../paged: all engagements by id; `offset` is the last id of the previous page."""
        limit = _int_param(request, "limit", 100, 1, 250)
        offset = _int_param(request, "offset", 0, 0, None)
        return _page(self.store.page_v1(request.state.portal, offset, limit + 1), limit, offset)

    async def associated(self, request: Request) -> Response:
        """GET .../associated/{CONTACT|COMPANY|DEAL}/{objectId}/paged."""
        object_type = str(request.path_params["object_type"]).upper()
        if object_type not in _OBJECT_TYPES:
            raise _BadRequest(
                f"object type {object_type!r} is not supported; use {', '.join(_OBJECT_TYPES)}"
            )
        limit = _int_param(request, "limit", 100, 1, 100)
        offset = _int_param(request, "offset", 0, 0, None)
        rows = self.store.page_v1_associated(
            request.state.portal, object_type, request.path_params["object_id"], offset, limit + 1
        )
        return _page(rows, limit, offset)

    async def recent(self, request: Request) -> Response:
        """GET .../recent/modified: updated since `since`, newest first, last 30 days only."""
        count = _int_param(request, "count", 20, 1, 100)
        offset = _int_param(request, "offset", 0, 0, None)
        since = _int_param(request, "since", 0, 0, None)
        since = max(since, self._now_ms() - RECENT_WINDOW_MS)
        rows, total = self.store.recent_v1(request.state.portal, since, offset, count)
        next_offset = offset + len(rows)
        return JSONResponse(
            {
                "results": [engagement_json(r) for r in rows],
                "hasMore": next_offset < total,
                "offset": next_offset,
                "total": total,
            }
        )

    async def account(self, request: Request) -> Response:
        """GET /account-info/{2026-03|v3}/details: the portal of the token (scope `oauth`)."""
        if request.path_params["version"] not in self.config.account_info_versions:
            return hubspot_error(404, f"{request.url.path} is not served", "OBJECT_NOT_FOUND")
        token = bearer_token(request.headers.get("authorization"))
        if token in self.config.no_account_scope:
            return missing_scopes(["oauth"])
        return JSONResponse(account_details(request.state.portal))

    async def patch(self, request: Request) -> Response:
        """PATCH .../{id}: update timestamp/ownerId/active, merge metadata, bump lastUpdated."""
        engagement_id = request.path_params["engagement_id"]
        row = self.store.get_v1(engagement_id, request.state.portal)
        if row is None:
            return _not_found(engagement_id)
        body = await _read_json(request)
        errors = validate_patch(body, row["type"])
        if errors:
            raise _BadRequest(*errors)
        metadata = {**row["metadata"], **strip_dropped_metadata(body.get("metadata", {}))}
        errors = validate_metadata(row["type"], metadata)
        if errors:
            raise _BadRequest(*errors)
        changes: dict[str, Any] = {
            "metadata": metadata,
            "last_updated": max(self._now_ms(), row["last_updated"] + 1),
        }
        engagement = body.get("engagement", {})
        for field, column in (("timestamp", "timestamp"), ("ownerId", "owner_id")):
            if field in engagement:
                changes[column] = engagement[field]
        if "active" in engagement:
            changes["active"] = int(engagement["active"])
        updated = self.store.update_v1(engagement_id, changes)
        if updated is None:
            return _not_found(engagement_id)
        return JSONResponse(engagement_json(updated))


def _fault_response(fault: Fault, decision: V1Decision) -> Response | None:
    """The answer of a fault that strikes before anything is stored, else None."""
    if fault is Fault.THROTTLED:
        headers = {**decision.headers(), "X-HubSpot-RateLimit-Remaining": "0"}
        return hubspot_rate_limited(POLICY_TEN_SECONDLY, headers)
    if fault is Fault.ERROR:
        return hubspot_error(
            500,
            "Internal error (sandbox fault: error_rate); nothing was stored, retry the request",
            "INTERNAL_ERROR",
        )
    return None


def _page(rows: list[dict[str, Any]], limit: int, offset: int) -> Response:
    """A {results, hasMore, offset} page from up to limit + 1 rows fetched in id order."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    return JSONResponse(
        {
            "results": [engagement_json(r) for r in rows],
            "hasMore": has_more,
            "offset": rows[-1]["id"] if rows else offset,
        }
    )


def _not_found(engagement_id: int) -> Response:
    return hubspot_error(
        404, f"Engagement {engagement_id} does not exist in this portal", "OBJECT_NOT_FOUND"
    )
