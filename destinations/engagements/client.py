"""The HTTP client for both APIs: one httpx.Client, Bearer auth, and network errors sorted by
whether the request could have reached the server (reliability_notes.md)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from destinations.engagements.redact import register
from sources.errors import TransientError

CREATE_PATHS = {"v1": "/engagements/v1/engagements", "v2": "/v2/engagements"}
PROBE_PATHS = {"v1": "/engagements/v1/engagements/paged", "v2": "/v2/engagements"}

# httpx logs every URL at INFO; keep our logs to what we say ourselves.
logging.getLogger("httpx").setLevel(logging.WARNING)

NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
MAYBE_SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        return orjson.loads(self.content) if self.content else None


class EngagementsClient:
    def __init__(
        self,
        target: str,
        base_url: str,
        api_token: str,
        *,
        timeout: float = 60.0,
        verify: str | bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.target = target
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout  # seconds a request may take
        register(api_token)  # whatever echoes it later (an httpx error, a log line) redacts it
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={
                "Authorization": f"Bearer {api_token}",
                "Content-Type": "application/json",
                "User-Agent": "engagement-sync/0.1",
            },
            verify=verify,
            transport=transport,
            trust_env=True,
        )

    def create(self, body: bytes) -> Response:
        return self._request("POST", CREATE_PATHS[self.target], content=body)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Response:
        return self._request("GET", path, params=params)

    def patch(self, path: str, body: bytes) -> Response:
        return self._request("PATCH", path, content=body)

    def probe(self) -> Response:
        """A cheap authenticated read, to stop at once on a bad token or unreachable host."""
        return self.get(PROBE_PATHS[self.target], {"limit": 1})

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Response:
        try:
            r = self._http.request(method, path, **kwargs)
        except NEVER_SENT as exc:
            raise TransientError(
                f"{self.target}: could not connect ({type(exc).__name__})", maybe_sent=False
            ) from None
        except MAYBE_SENT as exc:
            raise TransientError(
                f"{self.target}: no answer after sending ({type(exc).__name__})", maybe_sent=True
            ) from None
        return Response(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)
