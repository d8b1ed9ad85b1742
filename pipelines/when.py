"""Times a user types (`--since 2024-01-01`, `--since 7d`, `--before 2023-06-30T12:00+02:00`),
parsed with pendulum. Pure: the current time is passed in.

Accepted: a date (midnight UTC), an ISO 8601 time (without an offset it is UTC), or a window
back from now: a whole number and a unit, `30m`, `12h`, `7d`, `2w` (minutes, hours, days,
weeks; calendar months and years are ambiguous, so write a date).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pendulum

_WINDOW = re.compile(r"^\s*(\d{1,6})\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_DATED = re.compile(r"^\s*\d{4}-\d{2}")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class WhenError(ValueError):
    """Not a date, an ISO time or a window such as 7d."""


def parse_when(value: str, now: datetime) -> datetime:
    """`value` as an aware UTC datetime; WhenError when it is none of the accepted forms."""
    window = _WINDOW.match(value)
    if window:
        amount, unit = int(window.group(1)), _UNITS[window.group(2).lower()]
        moment = pendulum.instance(now, tz="UTC").subtract(**{unit: amount})
    elif _DATED.match(value):
        try:
            parsed = pendulum.parse(value.strip(), tz="UTC", strict=True)
        except (pendulum.parsing.exceptions.ParserError, ValueError) as exc:
            raise WhenError(str(exc)) from None
        if not isinstance(parsed, pendulum.DateTime):
            raise WhenError(f"{value!r} is not a point in time")
        moment = parsed
    else:  # a bare time of day would be read against the real clock: ask for a date
        raise WhenError(f"{value!r} is not a date, an ISO time or a window")
    utc = moment.in_timezone("UTC")
    return datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, UTC
    )
