"""The one place that maps an API response to an outcome (STYLE: one function per mapping).

Outcomes: created, existing (v2 200), rejected (the API refused the record: recorded, never
resent), retry (nothing was created: send again), later (v2 422 "media download timed out":
nothing created, try again in a later run), unknown (something may have been created: v1 must
reconcile before any resend) and stop (run-level: AuthError, DailyQuotaError).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from sources.errors import AuthError, DailyQuotaError, ScopeError

Kind = Literal["created", "existing", "rejected", "retry", "later", "unknown"]
MEDIA_TIMEOUT = "media_download_timeout"

V2_MEANINGS = {
    404: "the external_id belongs to an engagement you cannot access (e.g. private): use another "
    "external_id or request the scope",
    409: "the external_id belongs to a deleted engagement: use another external_id (a new prefix)",
}


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    http_status: int
    engagement_id: str | None = None
    error_code: str | None = None
    message: str | None = None
    request_id: str | None = None
    retry_after: float | None = None


def classify(target: str, status: int, headers: dict[str, str], content: bytes) -> Outcome:
    """Outcome of one create request; raises StopRunError subclasses for run-level answers."""
    body = _json(content)
    request_id = headers.get("x-request-id") or body.get("request_id") or body.get("correlationId")
    message = _message(body) or f"HTTP {status}"
    if status in (401, 403):
        raise (ScopeError if status == 403 else AuthError)(
            f"{target}: the API refused the token (HTTP {status}: {message}); set "
            f"DESTINATION__ENGAGEMENTS_{target.upper()}__API_TOKEN or "
            f"[destination.engagements_{target}] api_token in .dlt/secrets.toml"
        )
    if status == 429:
        if body.get("policyName") == "DAILY":
            wait = _retry_after(headers)
            when = f" (resets in {int(wait)} s)" if wait else ""
            raise DailyQuotaError(
                f"{target}: the daily API quota is spent{when}; pending records stay "
                "pending, run again after the daily reset"
            )
        return Outcome(
            "retry",
            status,
            message=message,
            request_id=request_id,
            retry_after=_retry_after(headers),
        )
    if 200 <= status < 300:
        engagement_id = _engagement_id(target, body)
        kind: Kind = "existing" if target == "v2" and status == 200 else "created"
        return Outcome(kind, status, engagement_id, request_id=request_id)
    if status >= 500:
        # v2 resends are safe (external_id); a v1 5xx may have stored the engagement.
        return Outcome(
            "retry" if target == "v2" else "unknown", status, message=message, request_id=request_id
        )
    code = _error_code(body) or str(status)
    if target == "v2" and status == 422 and _media_timed_out(code, message):
        return Outcome(
            "later", status, error_code=MEDIA_TIMEOUT, message=message, request_id=request_id
        )
    if target == "v2" and status in V2_MEANINGS:
        message = f"{message} ({V2_MEANINGS[status]})"
    return Outcome("rejected", status, error_code=code, message=message, request_id=request_id)


def _media_timed_out(code: str, message: str) -> bool:
    text = f"{code} {message}".lower()
    return MEDIA_TIMEOUT in text or ("media" in text and "timed out" in text)


def _json(content: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(content) if content else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _message(body: dict[str, Any]) -> str | None:
    parts = [body.get("detail") or body.get("message") or body.get("title")]
    for item in body.get("errors") or []:
        if isinstance(item, dict) and item.get("message"):
            field = f"{item['field']}: " if item.get("field") else ""
            parts.append(f"{field}{item['message']}")
    text = "; ".join(str(p) for p in parts if p)
    return text or None


def _error_code(body: dict[str, Any]) -> str | None:
    for item in body.get("errors") or []:
        if isinstance(item, dict) and item.get("code"):
            return str(item["code"])
    return body.get("category") or body.get("title") or None


def _engagement_id(target: str, body: dict[str, Any]) -> str | None:
    value = (body.get("engagement") or {}).get("id") if target == "v1" else body.get("id")
    return None if value is None else str(value)


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
