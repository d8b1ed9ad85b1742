"""Client-side pacing shared by every sender of a run (dlt calls the sink from several threads).

Two layers: a pacer that spaces sends evenly at the configured rate (GCRA: each send gets the
next 1/rate slot; `burst` lets that many go back to back), and pyrate-limiter as the hard cap of
`rate` sends in any rolling second, whatever the pacer does. The pacer exists because
pyrate-limiter's blocking wait sleeps in coarse steps: on a one-permit window it reached only
~70 % of the configured rate here.
"""

from __future__ import annotations

import threading
import time

from pyrate_limiter import Limiter, Rate


def make_limiter(requests_per_second: float) -> Limiter:
    """The hard cap: never more than `requests_per_second` sends in a rolling second."""
    return Limiter(Rate(max(1, round(requests_per_second)), 1000))


class Pacer:
    """Evenly spaced slots (generic cell rate algorithm), shared by every thread."""

    def __init__(self, requests_per_second: float, burst: int = 1) -> None:
        self.interval = 1.0 / requests_per_second
        self.tolerance = self.interval * max(burst - 1, 0)
        self._next = 0.0  # theoretical arrival time of the next send
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + self.interval
            delay = slot - now - self.tolerance
        if delay > 0:
            time.sleep(delay)


class SendGate:
    """Pacing plus the shared pause: after a 429 every sender waits, and v1 slows down when
    HubSpot's X-HubSpot-RateLimit-Remaining runs low."""

    def __init__(self, requests_per_second: float, low_water: int = 0, burst: int = 1) -> None:
        self.pacer = Pacer(requests_per_second, burst)
        self.limiter = make_limiter(requests_per_second * max(burst, 1))
        self.low_water = low_water
        self._lock = threading.Lock()
        self._closed_until = 0.0

    def wait(self) -> None:
        """Block until this sender may send."""
        while (delay := self._closed_until - time.monotonic()) > 0:
            time.sleep(delay)
        self.pacer.wait()
        self.limiter.try_acquire("send")

    def pause(self, seconds: float | None) -> None:
        """Every sender waits `seconds` (1 s when the server did not say)."""
        with self._lock:
            until = time.monotonic() + (seconds if seconds is not None else 1.0)
            self._closed_until = max(self._closed_until, until)

    def observe(self, headers: dict[str, str]) -> None:
        """HubSpot says how much of its rolling window is left: when fewer slots remain than
        requests may be in flight, wait for as many slots as are missing to free up (a rolling
        window frees one every interval / max)."""
        remaining = _number(headers.get("x-hubspot-ratelimit-remaining"))
        interval_ms = _number(headers.get("x-hubspot-ratelimit-interval-milliseconds")) or 10_000
        limit = _number(headers.get("x-hubspot-ratelimit-max")) or 100
        if remaining is not None and remaining <= self.low_water:
            self.pause((self.low_water - remaining + 1) * interval_ms / 1000 / limit)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
