"""Resolving `[destination.engagements_v1]` / `[destination.engagements_v2]` the dlt way.

Explicit values > env (DESTINATION__ENGAGEMENTS_V2__API_TOKEN) > .dlt/secrets.toml >
.dlt/config.toml > defaults. The token is held here and handed to the sink; it is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import dlt

from destinations.engagements.redact import register
from destinations.engagements.sink import DEFAULT_BASE_URLS, DEFAULT_CONCURRENCY, DEFAULT_RATES
from sources.errors import ConfigError


@dataclass(frozen=True)
class DestinationSettings:
    target: str
    base_url: str
    api_token: str
    destination_id: str  # ledger rows carry it; "" until the destination names itself
    rate_per_second: float
    max_concurrency: int = 8  # requests in flight at once
    timeout: float = 60.0  # seconds; v2 creates fetch media while the client waits
    ca_bundle: str | None = None  # for TLS-inspecting corporate proxies
    burst: int = 1  # sends that may go back to back; 1 = evenly spaced

    def __repr__(self) -> str:  # never print the token
        return (
            f"DestinationSettings(target={self.target!r}, base_url={self.base_url!r}, "
            f"destination_id={self.destination_id!r})"
        )


def resolve(target: str, require_token: bool = True) -> DestinationSettings:
    section = f"destination.engagements_{target}"
    base_url = str(dlt.config.get(f"{section}.base_url") or DEFAULT_BASE_URLS[target])
    token = clean_token(target, str(dlt.secrets.get(f"{section}.api_token") or ""))
    check_base_url(target, base_url)
    if require_token and not token:
        raise ConfigError(
            f"{target}: no API token; set DESTINATION__ENGAGEMENTS_{target.upper()}"
            f"__API_TOKEN or api_token under [{section}] in .dlt/secrets.toml"
        )
    if target == "v1":
        rate = _positive(section, "requests_per_10s", DEFAULT_RATES["v1"] * 10) / 10
    else:
        rate = _positive(section, "requests_per_second", DEFAULT_RATES["v2"])
    # Empty: named by the destination itself when pushing (destination_identity.py).
    destination_id = str(dlt.config.get(f"{section}.destination_id") or "")
    concurrency = int(_positive(section, "max_concurrency", DEFAULT_CONCURRENCY[target]))
    timeout = _positive(section, "timeout", 60.0)
    ca_bundle: object = dlt.config.get(f"{section}.ca_bundle")
    return DestinationSettings(
        target,
        base_url,
        token,
        destination_id,
        rate,
        concurrency,
        timeout,
        str(ca_bundle) if ca_bundle else None,
        int(_positive(section, "burst", 1)),
    )


def clean_token(target: str, raw: str) -> str:
    """The token without surrounding whitespace (a secrets file ending in a newline is the
    usual case); one with a control, space or non-ASCII character inside is refused, by
    position, never by value. Both forms are registered for redaction first."""
    register(raw)
    token = raw.strip()
    bad = next((i for i, ch in enumerate(token) if not 0x21 <= ord(ch) <= 0x7E), None)
    if bad is not None:
        raise ConfigError(
            f"{target}: the API token has a control, space or non-ASCII character at position "
            f"{bad + 1} of {len(token)}; fix api_token under [destination.engagements_{target}] "
            f"in .dlt/secrets.toml (or DESTINATION__ENGAGEMENTS_{target.upper()}__API_TOKEN)"
        )
    return token


def _positive(section: str, key: str, default: float) -> float:
    value: object = dlt.config.get(f"{section}.{key}")
    if value is None:
        return default
    try:
        number = float(str(value))
    except ValueError:
        number = -1.0
    if number <= 0:
        raise ConfigError(
            f"[{section}] {key} = {value!r} is not a positive number; fix it or "
            "remove it to use the default"
        )
    return number


def check_base_url(target: str, base_url: str) -> None:
    parts = urlsplit(base_url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ConfigError(
            f"{target}: base_url {base_url!r} must be https (plain http only on "
            f"127.0.0.1); fix [destination.engagements_{target}] base_url"
        )
