"""Sandbox-only admin routes: inspect stored engagements and fault counts, reset the sandbox.

Used by the integration tests and the demo; they need the same bearer token as the APIs.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import SandboxConfig
from .faults import FaultInjector
from .ratelimit import HubSpotLimiter, TokenBucket
from .responses import bearer_token, hubspot_error
from .store import Store

PREFIX = "/_sandbox"


def admin_routes(
    config: SandboxConfig,
    store: Store,
    limiters: Sequence[HubSpotLimiter | TokenBucket],
    faults: FaultInjector,
) -> list[Route]:
    """GET /_sandbox/engagements, GET /_sandbox/stats and POST /_sandbox/reset of one sandbox."""

    def authorised(request: Request) -> bool:
        token = bearer_token(request.headers.get("authorization"))
        return token is not None and secrets.compare_digest(token, config.token)

    def unauthorised() -> Response:
        return hubspot_error(
            401, "send Authorization: Bearer <sandbox token>", "INVALID_AUTHENTICATION"
        )

    async def engagements(request: Request) -> Response:
        """Every stored row of both APIs, including v2 external_id."""
        if not authorised(request):
            return unauthorised()
        return JSONResponse({"v1": store.v1_engagements(), "v2": store.v2_engagements()})

    async def stats(request: Request) -> Response:
        """Create requests seen, engagements created or found existing, and each fault applied."""
        if not authorised(request):
            return unauthorised()
        return JSONResponse(faults.fault_counts())

    async def reset(request: Request) -> Response:
        """Delete all engagements, refill every rate-limit budget, zero and reseed the faults."""
        if not authorised(request):
            return unauthorised()
        store.reset()
        for limiter in limiters:
            limiter.reset()
        faults.reset()
        return JSONResponse({"status": "ok"})

    return [
        Route(f"{PREFIX}/engagements", engagements, methods=["GET"]),
        Route(f"{PREFIX}/stats", stats, methods=["GET"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
    ]
