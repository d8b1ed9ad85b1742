"""Server-side rate limits of the sandbox: HubSpot's 10-second + daily budget, AskElephant's rps.

Both limiters are keyed by bearer token, thread-safe, and take their clocks as arguments so
that tests can drive time without sleeping. A rejected request does not consume quota.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

V1_INTERVAL_MS = 10_000
POLICY_TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
POLICY_DAILY = "DAILY"
POLICY_SECONDLY = "SECONDLY"
PORTAL_TIME_ZONE = "US/Eastern"
"""The timeZone every sandbox portal reports (responses.account_details)."""


def _portal_day() -> str:
    """Today in the portal's time zone: "The daily limit resets at midnight based on your time
    zone setting" (docs/hubspot_objects.md section 6)."""
    return datetime.now(ZoneInfo(PORTAL_TIME_ZONE)).date().isoformat()


@dataclass(frozen=True)
class V1Decision:
    """Outcome of one HubSpot-style admission: which policy refused it (if any) and the headers."""

    policy: str | None
    max_per_interval: int
    remaining: int
    daily: int
    daily_remaining: int

    @property
    def allowed(self) -> bool:
        """True when the request may proceed."""
        return self.policy is None

    def headers(self) -> dict[str, str]:
        """The X-HubSpot-RateLimit-* headers every v1 response carries."""
        return {
            "X-HubSpot-RateLimit-Max": str(self.max_per_interval),
            "X-HubSpot-RateLimit-Remaining": str(self.remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(V1_INTERVAL_MS),
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily_remaining),
        }


class HubSpotLimiter:
    """Rolling 10-second window plus a daily counter (reset at midnight in the portal's time
    zone), per token. v1 and the CRM objects API of one token share it."""

    def __init__(
        self,
        per_10s: int,
        daily: int,
        clock: Callable[[], float] = time.monotonic,
        day: Callable[[], str] = _portal_day,
    ) -> None:
        self.per_10s = per_10s
        self.daily = daily
        self._clock = clock
        self._day = day
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}
        self._days: dict[str, tuple[str, int]] = {}

    def acquire(self, token: str, burst: bool = True) -> V1Decision:
        """Admit or refuse one request; the daily budget is checked first (it means stop).

        burst=False (CRM search): counted in the daily quota only, outside the 10-second window.
        """
        with self._lock:
            now, today = self._clock(), self._day()
            window = self._windows.setdefault(token, deque())
            while window and window[0] <= now - V1_INTERVAL_MS / 1000:
                window.popleft()
            day, used_today = self._days.get(token, (today, 0))
            if day != today:
                used_today = 0
            policy = None
            if used_today >= self.daily:
                policy = POLICY_DAILY
            elif burst and len(window) >= self.per_10s:
                policy = POLICY_TEN_SECONDLY
            else:
                if burst:
                    window.append(now)
                used_today += 1
            self._days[token] = (today, used_today)
            return V1Decision(
                policy=policy,
                max_per_interval=self.per_10s,
                remaining=max(0, self.per_10s - len(window)),
                daily=self.daily,
                daily_remaining=max(0, self.daily - used_today),
            )

    def used_today(self, token: str) -> int:
        """Requests of token admitted today (the account's daily API usage)."""
        with self._lock:
            day, used = self._days.get(token, ("", 0))
            return used if day == self._day() else 0

    def reset(self) -> None:
        """Forget all consumption."""
        with self._lock:
            self._windows.clear()
            self._days.clear()


class TokenBucket:
    """AskElephant-style limit: `rate` requests per second with a burst of max(1, rate)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"v2_requests_per_second must be positive, got {rate}")
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, token: str) -> int | None:
        """Take one request's token; None when admitted, else the Retry-After in whole seconds."""
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(token, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[token] = (tokens - 1.0, now)
                return None
            self._buckets[token] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))

    def reset(self) -> None:
        """Refill every bucket."""
        with self._lock:
            self._buckets.clear()
