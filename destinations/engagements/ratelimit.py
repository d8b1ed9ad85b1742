"""Client-side pacing shared by every sender of a run (dlt calls the sink from several threads).

pyrate-limiter does the counting. Its blocking wait overshoots by tens of milliseconds per
acquire on a one-permit window, so the window is 100 ms and holds rate/10 permits: evenly paced
at the 100 ms scale, close to the configured rate overall.
"""

from __future__ import annotations

import threading
import time

from pyrate_limiter import Limiter, Rate

WINDOW_MS = 100


def make_limiter(requests_per_second: float) -> Limiter:
    per_window = max(1, round(requests_per_second * WINDOW_MS / 1000))
    window = max(WINDOW_MS, round(1000 * per_window / requests_per_second))
    return Limiter(Rate(per_window, window))


class SendGate:
    """Pacing plus the shared pause: after a 429 every sender waits, and v1 slows down when
    HubSpot's X-HubSpot-RateLimit-Remaining runs low."""

    def __init__(self, requests_per_second: float, low_water: int = 0) -> None:
        self.limiter = make_limiter(requests_per_second)
        self.low_water = low_water
        self._lock = threading.Lock()
        self._closed_until = 0.0

    def wait(self) -> None:
        """Block until this sender may send."""
        while (delay := self._closed_until - time.monotonic()) > 0:
            time.sleep(delay)
        self.limiter.try_acquire("send")

    def pause(self, seconds: float | None) -> None:
        """Every sender waits `seconds` (1 s when the server did not say)."""
        with self._lock:
            until = time.monotonic() + (seconds if seconds is not None else 1.0)
            self._closed_until = max(self._closed_until, until)

    def observe(self, headers: dict[str, str]) -> None:
        """HubSpot says how much of its 10 s window is left: pause before it runs out."""
        remaining = _number(headers.get("x-hubspot-ratelimit-remaining"))
        interval_ms = _number(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
        if remaining is not None and remaining <= self.low_water:
            self.pause((interval_ms or 10_000) / 1000 / 2)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
