"""AskElephant v2 emulation: idempotent engagement create, read by id, cursor-paged list.

Routes live under /api so that the sandbox's v2 base URL looks like https://app.askelephant.ai/api.
Every response carries X-Request-Id; errors are RFC 9457 problem+json. Creates also meet the
configured faults (faults.py): latency, storm 429s, 500s, media timeouts, lost and late answers.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .config import SandboxConfig
from .faults import Fault, FaultInjector
from .ratelimit import TokenBucket
from .responses import FieldError, bearer_token, new_request_id, problem, v2_json
from .store import Store
from .v2_schema import iso_utc, parse_datetime, validate_create

PREFIX = "/api/v2/engagements"
UPDATED_GTE = "filter[updated_at][gte]"
Handler = Callable[[Request], Awaitable[Response]]
Clock = Callable[[], datetime]


class _Problem(Exception):
    """A request the sandbox answers with a problem+json response."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers


def _media_timeout() -> _Problem:
    return _Problem(
        422,
        "Media download timed out (sandbox fault: media_timeout_rate); the engagement was not "
        "created. Keep media_url downloadable (a presigned URL must not expire yet) and retry",
        [FieldError("media_url", "media_download_timeout", "Media download timed out")],
    )


def _raise_early_fault(fault: Fault) -> None:
    """Answer a storm 429 or a 500 before the body is even read; nothing is stored."""
    if fault is Fault.THROTTLED:
        raise _Problem(
            429,
            "Rate limit exceeded (sandbox fault: 429 storm); retry after 1 s",
            headers={"Retry-After": "1"},
        )
    if fault is Fault.ERROR:
        raise _Problem(
            500, "Internal server error (sandbox fault: error_rate); nothing was stored, retry"
        )


def engagement_json(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row in the shape of the OpenAPI `engagement` schema."""
    return {
        "object": "engagement",
        "id": row["id"],
        "title": row["title"],
        "engagement_type": row["type"],
        "data_source": row["source_system"],
        "processing_status": "PENDING",
        "is_private": row["is_private"],
        "start_at": row["start_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": seq}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        after = None
    if not isinstance(after, int) or isinstance(after, bool):
        raise _Problem(
            400,
            "cursor is not valid; pass next_cursor from the previous page unchanged",
            [FieldError("cursor", "invalid_cursor", "cursor is not one this API returned")],
        )
    return after


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class V2Api:
    """The v2 routes bound to one sandbox's config, store and rate limiter."""

    def __init__(
        self,
        config: SandboxConfig,
        store: Store,
        limiter: TokenBucket,
        faults: FaultInjector,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.store = store
        self.limiter = limiter
        self.faults = faults
        self._clock = clock

    def routes(self) -> list[Route]:
        """Starlette routes under /api."""
        return [
            Route(PREFIX, self._guarded(self.create, create=True), methods=["POST"]),
            Route(PREFIX, self._guarded(self.list_engagements), methods=["GET"]),
            Route(PREFIX + "/{engagement_id}", self._guarded(self.get_one), methods=["GET"]),
        ]

    def _guarded(self, handler: Handler, create: bool = False) -> Handler:
        """Wrap a handler with auth, the rate limit, problems, X-Request-Id and (creates) faults."""

        async def endpoint(request: Request) -> Response:
            if create:
                await self.faults.delay()
            request_id = new_request_id()
            request.state.request_id = request_id
            token = bearer_token(request.headers.get("authorization"))
            workspace = self.config.portal_of(token)
            if token is None or workspace is None:
                return problem(
                    401,
                    "Missing or invalid bearer token; send Authorization: Bearer <API key>",
                    request_id,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            request.state.workspace = workspace
            if request.method == "GET" and token in self.config.write_only:
                return problem(403, "This API key lacks the engagements:read scope", request_id)
            retry_after = self.limiter.acquire(token)
            if retry_after is not None:
                return problem(
                    429,
                    f"Rate limit of {self.config.v2_requests_per_second:g} requests per second "
                    f"exceeded; retry after {retry_after} s",
                    request_id,
                    headers={"Retry-After": str(retry_after)},
                )
            fault = request.state.fault = self.faults.decide("v2") if create else Fault.NONE
            try:
                _raise_early_fault(fault)
                response = await handler(request)
            except _Problem as exc:
                return problem(exc.status, exc.detail, request_id, exc.errors, exc.headers)
            if create and response.status_code in (200, 201):
                self.faults.count("created" if response.status_code == 201 else "existing")
                response = await self.faults.deliver(request, fault, response)
            response.headers["X-Request-Id"] = request_id
            return response

        return endpoint

    async def create(self, request: Request) -> Response:
        """POST /v2/engagements: validate (400/422), then create (201) or return existing (200)."""
        body = await _read_json(request)
        status, errors = validate_create(body, self.config.allow_loopback_media)
        if status:
            kind = "is not valid" if status == 400 else "cannot be processed"
            raise _Problem(status, f"The request body {kind}: {errors[0].message}", errors)
        if request.state.fault is Fault.MEDIA_TIMEOUT:
            self.faults.count(Fault.MEDIA_TIMEOUT.value)
            raise _media_timeout()
        now = self._clock()
        start_at = parse_datetime(body["start_at"]) if "start_at" in body else now
        row = {
            "workspace": request.state.workspace,
            "id": f"eng_{secrets.token_hex(10)}",
            "external_id": body["external_id"],
            "type": body["type"],
            "title": body["title"],
            "source_system": body["source_system"],
            "media_url": body["media_url"],
            "run_workflows": body["run_workflows"],
            "start_at": iso_utc(start_at),
            "is_private": body.get("is_private", False),
            "participants": body.get("participants", []),
            "transcript_text": body.get("transcript_text"),
            "created_at": iso_utc(now),
            "updated_at": iso_utc(now),
        }
        stored, created = self.store.insert_v2(row)
        return v2_json(engagement_json(stored), 201 if created else 200, request.state.request_id)

    async def get_one(self, request: Request) -> Response:
        """GET /v2/engagements/{id}."""
        engagement_id = request.path_params["engagement_id"]
        row = self.store.get_v2(engagement_id, request.state.workspace)
        if row is None:
            raise _Problem(404, f"Engagement {engagement_id} does not exist in this workspace")
        return v2_json(engagement_json(row), 200, request.state.request_id)

    async def list_engagements(self, request: Request) -> Response:
        """GET /v2/engagements?limit=&cursor=&filter[updated_at][gte]=, in creation order."""
        params = request.query_params
        limit = _limit(params.get("limit"))
        after = _decode_cursor(params["cursor"]) if params.get("cursor") else 0
        updated_gte = _updated_gte(params.get(UPDATED_GTE))
        rows = self.store.page_v2(request.state.workspace, after, limit + 1, updated_gte)
        has_more = len(rows) > limit
        rows = rows[:limit]
        body = {
            "object": "list",
            "data": [engagement_json(r) for r in rows],
            "has_more": has_more,
            "next_cursor": _encode_cursor(rows[-1]["_seq"]) if has_more else None,
        }
        return v2_json(body, 200, request.state.request_id)


async def _read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Problem(
            400,
            f"The request body is not valid JSON: {exc}",
            [
                FieldError(
                    "", "invalid_json", "send a JSON object with Content-Type application/json"
                )
            ],
        ) from exc


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return 20
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 100:
        return int(raw)
    raise _Problem(
        400,
        f"limit must be an integer from 1 to 100, got {raw!r}",
        [FieldError("limit", "invalid_limit", "limit must be an integer from 1 to 100")],
    )


def _updated_gte(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return iso_utc(parse_datetime(raw))
    except ValueError as exc:
        raise _Problem(
            400,
            f"{UPDATED_GTE} must be an ISO 8601 date-time with offset: {exc}",
            [FieldError(UPDATED_GTE, "invalid_datetime", "use e.g. 2024-04-15T00:00:00Z")],
        ) from exc
