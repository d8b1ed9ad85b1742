"""Sandbox-only admin routes: inspect every stored engagement and reset the sandbox.

Used by the integration tests and the demo; they need the same bearer token as the APIs.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import SandboxConfig
from .ratelimit import HubSpotLimiter, TokenBucket
from .responses import bearer_token, hubspot_error
from .store import Store

PREFIX = "/_sandbox"


def admin_routes(
    config: SandboxConfig, store: Store, limiters: Sequence[HubSpotLimiter | TokenBucket]
) -> list[Route]:
    """GET /_sandbox/engagements and POST /_sandbox/reset bound to one sandbox."""

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

    async def reset(request: Request) -> Response:
        """Delete all engagements and refill every rate-limit budget."""
        if not authorised(request):
            return unauthorised()
        store.reset()
        for limiter in limiters:
            limiter.reset()
        return JSONResponse({"status": "ok"})

    return [
        Route(f"{PREFIX}/engagements", engagements, methods=["GET"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
    ]
