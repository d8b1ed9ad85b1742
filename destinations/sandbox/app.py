"""The sandbox's ASGI application: HubSpot v1 and the CRM objects / properties APIs at the root,
AskElephant v2 under /api, admin and fake recordings under /_sandbox."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .admin import admin_routes
from .config import SandboxConfig
from .crm_http import CrmContext
from .crm_objects import CrmObjectsApi
from .crm_properties import CrmPropertiesApi
from .crm_search import CrmSearchApi
from .faults import DROP_CONNECTION, FaultInjector, connection_dropper
from .ratelimit import HubSpotLimiter, TokenBucket
from .recordings import Recordings
from .responses import hubspot_error, new_request_id, problem
from .store import Store
from .v1 import V1Api
from .v2 import V2Api

_HUBSPOT_CATEGORIES = {404: "OBJECT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


class SandboxApp(Starlette):
    """Starlette plus one hook: each HTTP request may drop its connection (lost responses)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Here send is still the server's own; Starlette's middleware wraps it further in.
        if scope["type"] == "http":
            scope[DROP_CONNECTION] = connection_dropper(send)
        await super().__call__(scope, receive, send)


def create_app(config: SandboxConfig) -> Starlette:
    """Build a sandbox app with its own store, rate limiters and faults (app.state.store/faults)."""
    store = Store(config.store_path, config.portal_id)
    faults = FaultInjector(config)
    v1_limiter = HubSpotLimiter(config.v1_requests_per_10s, config.v1_daily_limit)
    v2_limiter = TokenBucket(config.v2_requests_per_second)
    search_limiter = TokenBucket(config.search_requests_per_second)
    # One HubSpot portal, two ways in: v1 and the objects API share the store and the limits.
    crm = CrmContext(config, store, v1_limiter, search_limiter, faults)
    crm.rng.seed(config.seed)
    recordings = Recordings(config)
    routes = [
        *CrmObjectsApi(crm).routes(),
        *CrmSearchApi(crm).routes(),
        *CrmPropertiesApi(crm).routes(),
        *V1Api(config, store, v1_limiter, faults).routes(),
        *V2Api(config, store, v2_limiter, faults).routes(),
        *admin_routes(config, store, [v1_limiter, v2_limiter, search_limiter], faults),
        *recordings.routes(),
    ]
    app = SandboxApp(
        routes=routes,
        exception_handlers={
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _server_error,
        },
    )
    app.state.config = config
    app.state.store = store
    app.state.faults = faults
    app.state.crm = crm
    app.state.recordings = recordings
    return app


def _error(request: Request, status: int, detail: str, headers: dict[str, str] | None) -> Response:
    """An error in the dialect of the API the path belongs to."""
    if request.url.path.startswith("/api/"):
        return problem(status, detail, new_request_id(), headers=headers)
    category = _HUBSPOT_CATEGORIES.get(status, "ERROR")
    return hubspot_error(status, detail, category, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths (404) and wrong methods (405) answered like the real APIs would."""
    assert isinstance(exc, HTTPException)
    detail = f"{request.method} {request.url.path}: {exc.detail}"
    return _error(request, exc.status_code, detail, dict(exc.headers or {}))


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client hung up mid-request (a killed push): nobody to answer, nothing to log."""
    return Response(status_code=499)


async def _server_error(request: Request, exc: Exception) -> Response:
    """A bug in the sandbox: answer 500 in the API's dialect (uvicorn logs the traceback)."""
    return _error(request, 500, f"sandbox error: {type(exc).__name__}", None)
