"""What every CRM objects / properties route of the sandbox shares: auth, scopes, limits, faults,
HubSpot's error bodies and object shapes (docs/hubspot_objects.md sections 3, 6, 9.1, 11).

Order per request: latency (batch writes) -> 401 -> rate limits (the shared HubSpotLimiter; search
on its own per-token limiter, counted daily only) -> 403 MISSING_SCOPES -> faults (batch writes)
-> the handler -> lost / late answers -> rate headers (never on search, note A7).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .config import SandboxConfig
from .crm_mapping import properties_of
from .crm_schema import BUILTIN_PROPERTIES, DEFAULT_PROPERTIES, OBJECT_TYPES, iso_ms
from .faults import Fault, FaultInjector
from .ratelimit import POLICY_SECONDLY, POLICY_TEN_SECONDLY, HubSpotLimiter, TokenBucket
from .responses import bearer_token, hubspot_rate_limited, missing_scopes
from .store import Store

Handler = Callable[[Request], Awaitable[Response]]
SCOPES = {  # note 9.1: any one of these
    "write": ("crm.objects.contacts.write",),
    "read": ("crm.objects.contacts.read",),
    "search": ("crm.objects.contacts.read",),
    "schema_read": (
        "crm.schemas.calls.read", "crm.schemas.meetings.read", "crm.objects.contacts.read",
        "crm.schemas.contacts.read",
    ),
    "schema_write": ("crm.schemas.contacts.write",),
    "account": ("oauth",),
}  # fmt: skip


class BadRequest(Exception):
    """A request answered as a whole with a HubSpot error (400 VALIDATION_ERROR by default)."""

    def __init__(self, message: str, errors: list[dict] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.errors, self.status = message, errors, status


def crm_error(
    status: int, message: str, category: str, errors: list[dict] | None = None
) -> JSONResponse:
    """HubSpot's `Error` body (note 3.4): status, message, correlationId, category, errors."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status)


def standard_error(
    category: str, message: str, context: dict[str, list[str]], errors: list[dict] | None = None
) -> dict[str, Any]:
    """One `StandardError` of a 207 answer (note 3.3)."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": errors or [],
        "links": {},
    }


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class CrmContext:
    """One sandbox's config, store, limiters and faults as the CRM routes use them."""

    config: SandboxConfig
    store: Store
    limiter: HubSpotLimiter
    search_limiter: TokenBucket
    faults: FaultInjector
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def definitions(self, portal: int, object_type: str) -> dict[str, dict[str, Any]]:
        """Built-in and custom property definitions of a portal's object type, by name."""
        custom = self.store.crm_definitions("crm_property_defs", portal, object_type)
        return {d["name"]: d for d in (*BUILTIN_PROPERTIES[object_type], *custom)}

    def unique_names(self, portal: int, object_type: str) -> set[str]:
        defs = self.definitions(portal, object_type).values()
        return {d["name"] for d in defs if d.get("hasUniqueValue")}

    def extra_options(self) -> dict[str, tuple[str, ...]]:
        """Portal-defined values beyond HubSpot's defaults (note A18)."""
        return {
            "hs_call_disposition": self.config.custom_dispositions,
            "hs_meeting_outcome": self.config.custom_meeting_outcomes,
        }

    def guarded(self, handler: Handler, kind: str) -> Handler:
        """Wrap a handler with auth, limits, scopes and (kind "write") faults."""

        async def endpoint(request: Request) -> Response:
            if kind == "write":
                await self.faults.delay()
            token = bearer_token(request.headers.get("authorization"))
            portal = self.config.portal_of(token)
            if token is None or portal is None:
                return crm_error(
                    401,
                    "Authentication credentials not found or invalid; "
                    "send Authorization: Bearer <private app access token>",
                    "INVALID_AUTHENTICATION",
                )
            object_type = request.path_params.get("object_type", "calls")
            if object_type not in OBJECT_TYPES:
                return crm_error(404, f"{request.url.path} is not served", "OBJECT_NOT_FOUND")
            request.state.portal, request.state.object_type = portal, object_type
            headers, refused = self._admit(token, kind)
            if refused is not None:
                return refused
            response = await self._answer(request, token, kind, handler, headers)
            for name, value in headers.items():
                response.headers.setdefault(name, value)
            return response

        return endpoint

    def _admit(self, token: str, kind: str) -> tuple[dict[str, str], Response | None]:
        """(rate headers, the 429 if refused); search is outside the 10 s window (note 6)."""
        if kind == "search":
            if self.search_limiter.acquire(token) is not None:
                return {}, hubspot_rate_limited(POLICY_SECONDLY, None)  # note A5, A7
            decision = self.limiter.acquire(token, burst=False)  # note A6: counted daily
            headers: dict[str, str] = {}
        else:
            decision = self.limiter.acquire(token)
            headers = decision.headers()
        if decision.policy is not None:
            return headers, hubspot_rate_limited(decision.policy, headers)
        return headers, None

    async def _answer(
        self, request: Request, token: str, kind: str, handler: Handler, headers: dict[str, str]
    ) -> Response:
        granted = self.config.scopes_of(token)
        if granted is not None and not set(SCOPES[kind]) & set(granted):
            return missing_scopes(list(SCOPES[kind]))
        fault = self.faults.decide("hubspot") if kind == "write" else Fault.NONE
        early = _fault_response(fault, headers)
        if early is not None:
            return early
        request.state.created = 0
        try:
            response = await handler(request)
        except BadRequest as exc:
            return crm_error(exc.status, exc.message, "VALIDATION_ERROR", exc.errors)
        if kind == "write" and response.status_code in (200, 201, 207):
            self.faults.count("created", request.state.created)
            response = await self.faults.deliver(request, fault, response)
        return response

    def object_json(
        self, object_type: str, row: dict[str, Any], names: set[str] | None, trace: str | None
    ) -> dict[str, Any]:
        """A `SimplePublicObject` (note 3.2); names=None returns every property."""
        values = properties_of(object_type, row)
        if names is not None:
            wanted = names | set(DEFAULT_PROPERTIES)
            values = {n: v for n, v in values.items() if n in wanted}
        out: dict[str, Any] = {
            "id": str(row["id"]),
            "properties": values,
            "createdAt": iso_ms(row["created_at"]),
            "updatedAt": iso_ms(row["last_updated"]),
            "archived": False,
        }
        if trace is not None:
            out["objectWriteTraceId"] = trace
        return out

    def batch_response(
        self, results: list[dict], errors: list[dict], started: str, ok_status: int
    ) -> JSONResponse:
        """A batch answer: ok_status when no input failed, else 207 with the errors (note 3.3)."""
        self.rng.shuffle(results)  # note A13: no documented order
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        body["startedAt"], body["completedAt"] = started, utc_now_iso()
        return JSONResponse(body, 207 if errors else ok_status)


def _fault_response(fault: Fault, headers: dict[str, str]) -> Response | None:
    """The answer of a fault that strikes before anything is stored, else None."""
    if fault is Fault.THROTTLED:
        return hubspot_rate_limited(
            POLICY_TEN_SECONDLY, {**headers, "X-HubSpot-RateLimit-Remaining": "0"}
        )
    if fault is Fault.ERROR:
        message = "Internal error (sandbox fault: error_rate); nothing was stored, retry"
        return crm_error(500, message, "INTERNAL_ERROR")
    if fault is Fault.LOCKED:  # note 3.4: 423, "a delay of at least 2 seconds"
        message = "Locked (sandbox fault: locked_rate); nothing was stored, retry after 2 s"
        return crm_error(423, message, "LOCKED")
    return None


async def read_json(request: Request) -> tuple[Any, int]:
    """The parsed body and its length in characters; unparseable JSON is a 400."""
    raw = await request.body()
    try:
        text = raw.decode()
        return json.loads(text), len(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Invalid input JSON: {exc}") from exc


def batch_inputs(body: Any) -> list[Any]:
    """The `inputs` of a batch body: a list of at most 100 (note 3.1), else a 400."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        raise BadRequest("request body must be a JSON object with an inputs list")
    if len(inputs) > 100:
        raise BadRequest(
            f"{len(inputs)} inputs: object API batch endpoints take at most 100 per request"
        )
    return inputs
