"""Can the API fetch a recording URL by itself? Public, needs the source's credentials, or
expiring (with its expiry when the URL says so).

The v2 API fetches media_url from the public internet during the create request. URLs that need
the source's own token, or that have expired, would only come back as a 422: without a relay
(which re-hosts the media, issue 7) such records are rejected before sending, naming the fix.
Pure: the caller passes `now`. The rules are deliberately narrow: only hosts that are known to
require credentials, and only expiries written into the URL itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import parse_qs, urlsplit

Kind = Literal["public", "needs_auth", "expiring"]

# (host pattern, path pattern, scheme): the source system serves these only with credentials.
_NEEDS_AUTH = (
    (re.compile(r"(^|\.)ringcentral\.(com|biz)$"), re.compile(r"/recording/|/content"), "bearer"),
    (re.compile(r"(^|\.)zoom\.us$"), re.compile(r"/rec/download|/recording/download"), "bearer"),
    (re.compile(r"^assets\.aircall\.io$"), re.compile(r"/calls/"), "login"),
)


@dataclass(frozen=True)
class MediaAccess:
    kind: Kind
    scheme: str | None = None  # bearer, basic, login: what a download needs
    expires_at: datetime | None = None


def classify(url: str) -> MediaAccess:
    """How the recording at `url` can be fetched."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
    for host_rule, path_rule, scheme in _NEEDS_AUTH:
        if host_rule.search(host) and path_rule.search(parts.path) and "access_token" not in query:
            return MediaAccess("needs_auth", scheme)
    expires = link_expiry(url)
    if expires is not None:
        return MediaAccess("expiring", expires_at=expires)
    return MediaAccess("public")


def needs_auth_host(host: str) -> bool:
    """Whether some recording links on `host` need the source's credentials (then classify
    must look at the whole URL); links on other hosts are public unless their query expires."""
    return any(rule.search(host.lower()) for rule, _, _ in _NEEDS_AUTH)


def link_expiry(url: str) -> datetime | None:
    """When a signed link stops working, if the URL says so: S3 SigV4, GCS V4, S3 SigV2 /
    CloudFront, Azure SAS. The relay also reads it off the links it signed itself."""
    query = {k.lower(): v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    return (
        _v4_expiry(query, "x-amz-")
        or _v4_expiry(query, "x-goog-")
        or _epoch_expiry(query)
        or _sas_expiry(query)
    )


def _v4_expiry(query: dict[str, str], prefix: str) -> datetime | None:
    """SigV4-style (S3 `X-Amz-…`, GCS `X-Goog-…`): Date (YYYYMMDDTHHMMSSZ) + Expires seconds."""
    try:
        signed = datetime.strptime(query[prefix + "date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return signed + timedelta(seconds=int(query[prefix + "expires"]))
    except (KeyError, ValueError):
        return None


def _sas_expiry(query: dict[str, str]) -> datetime | None:
    """Azure SAS: `se` (signed expiry, ISO 8601 UTC) next to a `sig`."""
    if "sig" not in query or "se" not in query:
        return None
    try:
        expiry = datetime.fromisoformat(query["se"].replace("Z", "+00:00"))
    except ValueError:
        return None
    return expiry if expiry.tzinfo else expiry.replace(tzinfo=UTC)


def _epoch_expiry(query: dict[str, str]) -> datetime | None:
    """SigV2 / CloudFront style: Expires=<unix seconds> next to a Signature."""
    if "signature" not in query or not query.get("expires", "").isdigit():
        return None
    return datetime.fromtimestamp(int(query["expires"]), UTC)
