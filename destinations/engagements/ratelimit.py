"""Client-side pacing shared by every sender of a run (dlt calls the sink from several threads).

pyrate-limiter does the counting. Its blocking wait overshoots by tens of milliseconds per
acquire on a one-permit window, so the window is 100 ms and holds rate/10 permits: evenly paced
at the 100 ms scale, close to the configured rate overall.
"""

from __future__ import annotations

from pyrate_limiter import Limiter, Rate

WINDOW_MS = 100


def make_limiter(requests_per_second: float) -> Limiter:
    per_window = max(1, round(requests_per_second * WINDOW_MS / 1000))
    window = max(WINDOW_MS, round(1000 * per_window / requests_per_second))
    return Limiter(Rate(per_window, window))
