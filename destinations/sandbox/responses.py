"""Error bodies of both emulated APIs: HubSpot's JSON errors and AskElephant's RFC 9457 problems."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://docs.askelephant.ai/errors/"
_PROBLEM_TITLES = {
    400: ("invalid_request", "Invalid request"),
    401: ("unauthorized", "Unauthorized"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    422: ("unprocessable_entity", "Unprocessable entity"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Internal server error"),
}


@dataclass(frozen=True)
class FieldError:
    """One field-level problem of a v2 request (the `errors[]` items of a problem response)."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The JSON form of the error item."""
        return {"field": self.field, "code": self.code, "message": self.message}


def new_request_id() -> str:
    """A fresh AskElephant-style request id, echoed in X-Request-Id and in problem bodies."""
    return f"req_{secrets.token_hex(12)}"


def problem(
    status: int,
    detail: str,
    request_id: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An RFC 9457 problem+json response carrying request_id in the body and X-Request-Id."""
    code, title = _PROBLEM_TITLES.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    }
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    all_headers = {"X-Request-Id": request_id, **(headers or {})}
    return JSONResponse(body, status, headers=all_headers, media_type=PROBLEM_CONTENT_TYPE)


def v2_json(data: Any, status: int, request_id: str) -> JSONResponse:
    """A successful v2 response with its X-Request-Id."""
    return JSONResponse(data, status, headers={"X-Request-Id": request_id})


def hubspot_error(
    status: int,
    message: str,
    category: str,
    errors: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """HubSpot's error body: status/message/category/correlationId (+ errors for validation)."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "category": category,
        "correlationId": str(uuid.uuid4()),
    }
    if errors is not None:
        body["errors"] = [{"message": m} for m in errors]
    return JSONResponse(body, status, headers=headers)


def hubspot_rate_limited(policy: str, headers: dict[str, str] | None) -> JSONResponse:
    """HubSpot's 429 body, naming the policy that refused the request."""
    window = policy.lower()  # DAILY, SECONDLY (search), TEN_SECONDLY_ROLLING
    body = {
        "status": "error",
        "message": f"You have reached your {window} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
    }
    return JSONResponse(body, 429, headers=headers)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def account_details(portal: int) -> dict[str, Any]:
    """HubSpot's account information API answer for a portal (fields per its reference page)."""
    return {
        "portalId": portal,
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": "USD",
        "additionalCurrencies": [],
        "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18000000,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }


def missing_scopes(scopes: list[str]) -> Response:
    """HubSpot's 403 when the app lacks a scope the endpoint needs."""
    return JSONResponse(
        {
            "status": "error",
            "message": "This app hasn't been granted all required scopes to make this call.",
            "correlationId": secrets.token_hex(8),
            "errors": [
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": scopes},
                }
            ],
            "category": "MISSING_SCOPES",
        },
        status_code=403,
    )
