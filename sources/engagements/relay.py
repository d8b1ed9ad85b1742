"""The recording relay's rules: which media it re-hosts, from which hosts it may download, where
an object lives in the bucket and when a link it signed must be signed again.

The v2 API fetches `media_url` anonymously. A job with a relay (`relay = "s3://bucket/prefix"`)
has such recordings downloaded with the source's own credentials just before the send, streamed
to the bucket and replaced by a presigned GET link (destinations/engagements/relay.py does the
IO). Pure: no clock, network or file; the caller passes `now`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from sources.engagements.media_access import classify, link_expiry

Scheme = Literal["basic", "bearer"]

RELAY_PROTOCOLS = ("s3", "gs", "gcs", "az", "abfs", "abfss")
DEFAULT_URL_LIFETIME = 3600  # seconds a presigned link stays valid
MIN_URL_LIFETIME = 60
MAX_URL_LIFETIME = 7 * 24 * 3600  # S3 SigV4 and GCS V4 sign for at most 7 days
DEFAULT_MAX_MB = 2048
_RESIGN_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class SourceAuth:
    """How a preset's recordings are downloaded: the scheme and the secret keys it reads from
    `[sources.<preset>]` (never the values: those stay in secrets.toml / env)."""

    scheme: Scheme
    keys: tuple[str, ...]


SOURCE_AUTH: dict[str, SourceAuth] = {
    "twilio": SourceAuth("basic", ("account_sid", "auth_token")),
    "ringcentral": SourceAuth("bearer", ("access_token",)),
    "zoom": SourceAuth("bearer", ("access_token",)),
}

# The hosts each system serves recordings from, redirects included (Twilio and Aircall hand
# out S3 links). `*.example.com` matches every subdomain; a bare name only itself. Presets with
# no fixed host (generic, salesforce) need the job's relay_hosts.
PRESET_HOSTS: dict[str, tuple[str, ...]] = {
    "twilio": ("*.twilio.com", "*.twiliocdn.com", "*.amazonaws.com"),
    "ringcentral": ("*.ringcentral.com", "*.ringcentral.biz"),
    "zoom": ("zoom.us", "*.zoom.us", "*.zoomgov.com"),
    "aircall": ("*.aircall.io", "*.amazonaws.com"),
    "gong": ("*.gong.io", "*.amazonaws.com", "*.cloudfront.net"),
    "dialpad": ("dialpad.com", "*.dialpad.com", "storage.googleapis.com"),
}


@dataclass(frozen=True)
class RelaySettings:
    """A job's relay, as configured (no secrets)."""

    job: str
    preset: str
    url: str  # bucket URL: s3://bucket/prefix, gs://…, az://…
    url_lifetime: int = DEFAULT_URL_LIFETIME  # seconds
    hosts: tuple[str, ...] = ()  # download allow-list
    max_bytes: int = DEFAULT_MAX_MB * 1024 * 1024

    @property
    def resign_margin(self) -> timedelta:
        """A recorded link with less time left than this is signed again before a resend."""
        return min(_RESIGN_MARGIN, timedelta(seconds=self.url_lifetime) / 4)


def relay_url_problem(url: str) -> str | None:
    """Why `url` cannot be a relay bucket URL, or None."""
    parts = urlsplit(url)
    if parts.scheme not in RELAY_PROTOCOLS:
        return f"must be a bucket URL ({', '.join(p + '://' for p in RELAY_PROTOCOLS)})"
    if not parts.netloc:
        return "names no bucket"
    if parts.query or parts.fragment:
        return "must not carry a query or fragment"
    return None


def default_hosts(preset: str) -> tuple[str, ...]:
    return PRESET_HOSTS.get(preset, ())


def settings_problem(settings: RelaySettings) -> str | None:
    """What is wrong with a job's relay settings (naming the key), or None."""
    if problem := relay_url_problem(settings.url):
        return f"relay = {settings.url!r} {problem}"
    if not MIN_URL_LIFETIME <= settings.url_lifetime <= MAX_URL_LIFETIME:
        return (
            f"relay_url_lifetime = {settings.url_lifetime} must be from {MIN_URL_LIFETIME} to "
            f"{MAX_URL_LIFETIME} seconds (7 days, the longest a presigned link may live)"
        )
    if settings.max_bytes <= 0:
        return "relay_max_mb must be a positive number of megabytes"
    if not settings.hosts:
        return (
            f"the {settings.preset} preset has no known recording hosts; list the hosts the "
            'relay may download from in relay_hosts (e.g. ["media.example.com"])'
        )
    return None


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """`host` matches an allow-list entry: `*.example.com` any subdomain, else the exact name."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def needs_relay(url: str, has_credentials: bool) -> bool:
    """Whether the relay re-hosts this recording: links that need credentials or expire, and
    every link of a source whose credentials are configured (a Twilio account that enforces
    Basic auth serves links that look public)."""
    return has_credentials or classify(url).kind != "public"


def object_name(external_id: str) -> str:
    """The object's name: a pure function of external_id (so every retry, and every run after a
    crash, finds the same object), hashed so no source id shapes a bucket path."""
    return hashlib.sha256(external_id.encode()).hexdigest()


def object_path(bucket_path: str, external_id: str) -> str:
    """The object's path inside the filesystem (`bucket/prefix/<name>`)."""
    return f"{bucket_path.rstrip('/')}/{object_name(external_id)}"


def is_relayed(url: str, external_id: str) -> bool:
    """Whether `url` is a link the relay signed for this record's object."""
    return urlsplit(url).path.rstrip("/").endswith("/" + object_name(external_id))


def needs_resign(url: str, now: datetime, margin: timedelta) -> bool:
    """A recorded relay link that has expired, or will within `margin`, is signed again (a link
    whose expiry cannot be read is treated as expired: a fresh signature is always safe)."""
    expires = link_expiry(url)
    return expires is None or expires - now <= margin


def is_media_type(content_type: str | None) -> bool:
    """audio/* or video/*: what the v2 API accepts."""
    main = (content_type or "").split(";", 1)[0].strip().lower()
    return main.startswith(("audio/", "video/")) and len(main) > len("audio/")


def same_origin(a: str, b: str) -> bool:
    """Scheme, host and port equal: credentials may only go back to where they belong."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme.lower(), (pa.hostname or "").lower(), pa.port) == (
        pb.scheme.lower(),
        (pb.hostname or "").lower(),
        pb.port,
    )
