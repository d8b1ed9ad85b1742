"""Fake recordings, served the ways dialers serve them, for the relay's tests and demo.

    GET /_sandbox/recordings/public/{name}    no credentials
    GET /_sandbox/recordings/basic/{name}     Basic recording_user:recording_password (Twilio
                                              with enforced auth)
    GET /_sandbox/recordings/bearer/{name}    Bearer recording_token (RingCentral, Zoom)
    GET /_sandbox/recordings/expiring/{name}?Expires=<unix s>&Signature=<hex>
                                              a signed link that answers 403 once expired
                                              (Aircall, Gong); mint one with `expiring_link`

The body is deterministic bytes of `name` (`content(name, size)`), `audio/mpeg` and 64 KiB
unless a test plans otherwise (`plan`: size, content type, the first N downloads answered 503,
a redirect elsewhere). Each recording counts the downloads it served and whether any request
for it carried credentials (`served`, `saw_credentials`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .config import SandboxConfig

PREFIX = "/_sandbox/recordings"
DEFAULT_SIZE = 64 * 1024
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class Plan:
    size: int = DEFAULT_SIZE
    content_type: str = "audio/mpeg"
    fail_first: int = 0  # answer 503 to this many downloads first
    redirect_to: str | None = None  # answer 302 to this URL instead


def content(name: str, size: int = DEFAULT_SIZE) -> bytes:
    """The bytes a recording serves: its name's sha256, repeated (tests compare with it)."""
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


class Recordings:
    """The recording routes of one sandbox, with their plans and counters."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._secret = hashlib.sha256(f"recordings:{config.token}".encode()).digest()
        self._plans: dict[str, Plan] = {}
        self._lock = threading.Lock()
        self.served: Counter[str] = Counter()
        self.saw_credentials: set[str] = set()
        self._attempts: Counter[str] = Counter()

    def plan(self, name: str, **changes: Any) -> None:
        """How `name` is served from now on (size, content_type, fail_first, redirect_to)."""
        with self._lock:
            self._plans[name] = replace(self._plans.get(name, Plan()), **changes)

    def expiring_link(self, base_url: str, name: str, expires: float) -> str:
        """A signed link to `name` that stops working at `expires` (unix seconds)."""
        stamp = int(expires)
        signature = self._sign(name, stamp)
        return f"{base_url}{PREFIX}/expiring/{name}?Expires={stamp}&Signature={signature}"

    def routes(self) -> list[Route]:
        return [Route(PREFIX + "/{access}/{name}", self.serve, methods=["GET"])]

    async def serve(self, request: Request) -> Response:
        access, name = request.path_params["access"], request.path_params["name"]
        if request.headers.get("authorization"):
            self.saw_credentials.add(name)
        refusal = self._refusal(access, name, request)
        if refusal is not None:
            return refusal
        with self._lock:
            plan = self._plans.get(name, Plan())
            self._attempts[name] += 1
            failing = self._attempts[name] <= plan.fail_first
            if not failing and plan.redirect_to is None:
                self.served[name] += 1
        if failing:
            return PlainTextResponse("sandbox: recording store unavailable, retry", 503)
        if plan.redirect_to is not None:
            return RedirectResponse(plan.redirect_to, 302)
        return StreamingResponse(
            _stream(content(name, plan.size)),
            media_type=plan.content_type,
            headers={"Content-Length": str(plan.size)},
        )

    def _refusal(self, access: str, name: str, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        if access == "public":
            return None
        if access == "basic":
            pair = f"{self.config.recording_user}:{self.config.recording_password}"
            expected = "Basic " + base64.b64encode(pair.encode()).decode()
            return None if secrets.compare_digest(header, expected) else _denied(401, "Basic")
        if access == "bearer":
            expected = f"Bearer {self.config.recording_token}"
            return None if secrets.compare_digest(header, expected) else _denied(401, "Bearer")
        if access == "expiring":
            stamp = request.query_params.get("Expires", "")
            signature = request.query_params.get("Signature", "")
            if not stamp.isdigit() or not secrets.compare_digest(
                signature, self._sign(name, int(stamp))
            ):
                return _denied(403, None)
            return None if int(stamp) > time.time() else _denied(403, None, "Request has expired")
        return PlainTextResponse(f"unknown access {access!r}", 404)

    def _sign(self, name: str, stamp: int) -> str:
        return hmac.new(self._secret, f"{name}:{stamp}".encode(), hashlib.sha256).hexdigest()


def _denied(status: int, scheme: str | None, detail: str = "Access denied") -> Response:
    headers = {"WWW-Authenticate": scheme} if scheme else None
    return PlainTextResponse(detail, status, headers=headers)


def _stream(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), _CHUNK):
        yield data[start : start + _CHUNK]
