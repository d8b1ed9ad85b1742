"""Phone numbers to E.164: one function for export rows and contact maps alike (pure)."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_NANP = re.compile(r"^1[2-9]\d{2}[2-9]\d{6}$")  # 1 + a North American area code and number


@lru_cache(maxsize=1_000_000)
def to_e164(raw: str, region: str | None) -> str | None:
    """One number to E.164, or None when phonenumbers finds no valid number in it.

    E.164-shaped input is still checked for validity (a `+20…` that is no Egyptian number is
    not E.164); 11 digits starting with 1 (`12055550123`, as RingCentral writes them) read as
    +1 when they form a valid North American number, whatever `region` says.
    """
    text = raw.strip()
    if _E164.match(text):
        return _valid(text, None)
    if _NANP.match(text) and (nanp := _valid("+" + text, None)):
        return nanp
    return _valid(text, region)


def _valid(text: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def valid_region(region: str) -> bool:
    """A region phonenumbers knows (`US`, `GB`); `XX`, `usa` or `` are not."""
    return region.upper() in phonenumbers.SUPPORTED_REGIONS
