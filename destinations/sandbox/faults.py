"""Seeded fault injection on create requests, so tests can prove exactly-once delivery.

One FaultInjector per sandbox. Each create request that passes auth and the rate limit takes
its fate from one random.Random(config.seed), always four draws in the same order (error,
media timeout or lock, lost response, read timeout), so request n meets the same fault in every
run with the same seed and settings. The first fault that applies wins, in this order:

    429 storm -> 500 error -> 422 media timeout (v2) / 423 locked (hubspot) -> store
              -> lost response -> read timeout

Storm, error, media timeout and lock answer without storing anything; a lost response and a read
timeout happen after the engagement is stored. Reads and admin routes never meet a fault. For
the CRM objects API ("hubspot") the create requests are its batch create, update and upsert.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from enum import StrEnum

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .config import SandboxConfig

COUNTERS = (
    "requests",
    "created",
    "existing",
    "errors_500",
    "lost_responses",
    "read_timeouts",
    "throttled_429",
    "media_timeouts",
    "locked_423",
)
"""Keys of fault_counts(): create requests seen, what was stored, and each fault applied."""
DROP_CONNECTION = "sandbox.drop_connection"
"""Scope key of the coroutine function that closes the request's connection (see SandboxApp)."""


class Fault(StrEnum):
    """The fault chosen for one create request; the value is its fault_counts() key."""

    NONE = "none"
    THROTTLED = "throttled_429"
    ERROR = "errors_500"
    MEDIA_TIMEOUT = "media_timeouts"
    LOST = "lost_responses"
    READ_TIMEOUT = "read_timeouts"
    LOCKED = "locked_423"


class FaultInjector:
    """Decides and counts the faults of one sandbox; thread-safe (tests read the counts)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)
        self._counts: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()

    def reset(self) -> None:
        """Zero the counters and storm positions and reseed, as if the sandbox just started."""
        with self._lock:
            self._rng.seed(self.config.seed)
            self._counts.clear()
            self._seen.clear()

    async def delay(self) -> None:
        """Wait latency_ms without blocking the event loop (other requests keep being served)."""
        if self.config.latency_ms > 0:
            await asyncio.sleep(self.config.latency_ms / 1000)

    def decide(self, api: str) -> Fault:
        """Count one create request of api ("v1", "v2" or "hubspot") and choose its fault.

        Storm 429s and 500s are counted here because they always apply; the others are
        counted by the caller once they really happen (they need a valid, stored body).
        """
        c = self.config
        with self._lock:
            self._counts["requests"] += 1
            position = self._seen[api] % c.storm_every if c.storm_every else 0
            self._seen[api] += 1
            error, media, lost, late = (self._rng.random() for _ in range(4))
            if c.storm_length and position >= c.storm_every - c.storm_length:
                fault = Fault.THROTTLED
            elif error < c.error_rate:
                fault = Fault.ERROR
            elif api == "v2" and media < c.media_timeout_rate:
                fault = Fault.MEDIA_TIMEOUT
            elif api == "hubspot" and media < c.locked_rate:
                fault = Fault.LOCKED
            elif lost < c.lost_response_rate:
                fault = Fault.LOST
            elif late < c.read_timeout_rate:
                fault = Fault.READ_TIMEOUT
            else:
                fault = Fault.NONE
            if fault in (Fault.THROTTLED, Fault.ERROR, Fault.LOCKED):
                self._counts[fault.value] += 1
            return fault

    def count(self, key: str, n: int = 1) -> None:
        """Add n (one) to a counter of COUNTERS."""
        with self._lock:
            self._counts[key] += n

    def fault_counts(self) -> dict[str, int]:
        """Every counter of COUNTERS, zeros included."""
        with self._lock:
            return {key: self._counts[key] for key in COUNTERS}

    async def deliver(self, request: Request, fault: Fault, response: Response) -> Response:
        """Answer a create whose engagement is stored, unless a post-store fault hides it."""
        if fault is Fault.LOST:
            self.count(Fault.LOST.value)
            return LostResponse()
        if fault is Fault.READ_TIMEOUT:
            self.count(Fault.READ_TIMEOUT.value)
            await hold(request, self.config.read_timeout_s)
        return response


async def hold(request: Request, seconds: float) -> None:
    """Wait seconds, or less when the client hangs up first (no task outlives its client)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_disconnected(request), timeout=seconds)


async def _disconnected(request: Request) -> None:
    # The body has been read, so the next ASGI message is the client going away.
    while (await request.receive())["type"] != "http.disconnect":
        continue


class LostResponse(Response):
    """No answer at all: the connection is closed before a status line is written.

    The client sees the server hang up without a response (httpx.RemoteProtocolError), the
    same thing it sees when a real API or a proxy dies between storing and answering.
    """

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        drop = scope.get(DROP_CONNECTION)
        if drop is None:
            raise RuntimeError(
                "lost_response_rate needs the sandbox's own app; build it with create_app()"
            )
        await drop()


def connection_dropper(send: Send) -> Callable[[], Awaitable[None]]:
    """A coroutine function that closes the connection of the server's own send callable.

    ASGI has no way to answer nothing: an app that raises before responding gets a 500 from the
    server. uvicorn's send is a method of its request cycle, which holds the socket transport;
    closing it is what a crashed server looks like to the client.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)

    async def drop() -> None:
        if transport is None:
            raise RuntimeError("lost_response_rate needs the sandbox to run under uvicorn")
        transport.close()
        # Let uvicorn's connection_lost run first: it then neither logs nor answers 500.
        await asyncio.sleep(0)

    return drop
