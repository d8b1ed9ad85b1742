"""Downloading a recording for the relay without becoming the SSRF vector (reliability_notes.md).

The environment is not trusted (no proxy or .netrc: `trust_env` off), redirects are followed by
hand with every hop checked against the media_url rules and the job's allow-list, credentials
go only to the origin of the recording link (never to the host a redirect points at), and the
address actually connected to is checked before the body is read, so a name that resolves
privately after our own look-up is refused too. Messages name hosts, never whole URLs: links
can carry signatures.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from sources.engagements.media_url import Resolver, canonical_url, check_media_url
from sources.engagements.relay import host_allowed, same_origin
from sources.errors import RelayRejectError, TransientError

MAX_REDIRECTS = 5
_LOCATION = "x-engagement-sync-location"  # where _hide_location keeps a response's Location
_TRANSIENT = {408, 425, 429}


@dataclass(frozen=True)
class DownloadPolicy:
    hosts: tuple[str, ...]  # the allow-list
    credentials_hint: str  # where the source credentials are configured, for messages
    resolve: Resolver | None = None  # names are resolved; every address must be public
    allow_loopback: bool = False  # testing switch


def http_client(
    timeout: float = 60.0, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """The relay's own client: no environment proxies or netrc, no automatic redirects, and
    httpx never parses a Location itself (see _hide_location)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=10.0),
        trust_env=False,
        follow_redirects=False,
        headers={"User-Agent": "engagement-sync-relay/0.1"},
        event_hooks={"response": [_hide_location]},
        transport=transport,
    )


def _hide_location(response: httpx.Response) -> None:
    """Move Location out of httpx's sight: even without following, httpx builds the next
    request and raises a protocol error on a Location it cannot parse (`0177.0.0.1`, invisible
    characters), which would read as a transient failure, retried forever. The relay parses,
    canonicalises and checks every Location itself."""
    location = response.headers.pop("location", None)
    if location is not None:
        response.headers[_LOCATION] = location


@contextmanager
def open_recording(
    client: httpx.Client, url: str, headers: Mapping[str, str], policy: DownloadPolicy
) -> Iterator[httpx.Response]:
    """The recording's 2xx response, streaming (the body is not read yet). RelayRejectError
    for what no retry fixes, TransientError for what a later attempt may."""
    current = origin = url
    for hop in range(MAX_REDIRECTS + 1):
        # Every hop is requested in the canonical form its check passed (issue 12).
        current = check_hop(current, policy, redirected=hop > 0)
        if hop == 0:
            origin = current
        sent = dict(headers) if same_origin(origin, current) else {}
        response = _send(client, current, sent)
        try:
            _check_peer(response, current, policy)
            location = response.headers.get(_LOCATION) or response.headers.get("location")
            if httpx.codes.is_redirect(response.status_code) and location:
                current = _join(current, location)
                continue
            _check_status(response.status_code, _host(current), policy)
            yield response
            return
        finally:
            response.close()
    raise RelayRejectError(
        "relay_source_refused",
        f"the recording at {_host(url)} redirects more than {MAX_REDIRECTS} times; "
        "check the recording link",
    )


def check_hop(url: str, policy: DownloadPolicy, redirected: bool = False) -> str:
    """The media_url rules (https, public address) and the allow-list, for one URL; returns
    the URL to request: its canonical form, the one the rules were checked on."""
    what = "a redirect to" if redirected else "the recording at"
    problem = check_media_url(url, policy.resolve, policy.allow_loopback)
    sent = canonical_url(url) if problem is None else None
    if problem is not None or sent is None:
        message = problem.message if problem else "not a URL"
        raise RelayRejectError(
            problem.code if problem else "media_url_invalid",
            f"relay: {what} {_host(url)}: {message}; the relay downloads only from "
            "public https hosts (fix the recording link)",
        )
    if not host_allowed(_host(sent), policy.hosts):
        raise RelayRejectError(
            "relay_host_not_allowed",
            f"relay: {what} {_host(url)} is outside the relay's allow-list "
            f"({', '.join(policy.hosts) or 'empty'}); add the host to the job's relay_hosts",
        )
    return sent


def _join(base: str, location: str) -> str:
    """Where a redirect leads; a Location that is no URL is refused like a bad recording link."""
    try:
        return urljoin(base, location)
    except ValueError:
        raise RelayRejectError(
            "media_url_invalid",
            f"relay: {_host(base)} redirects to a Location that is not a valid URL; "
            "fix the recording link",
        ) from None


def _send(client: httpx.Client, url: str, headers: dict[str, str]) -> httpx.Response:
    try:
        return client.send(client.build_request("GET", url, headers=headers), stream=True)
    except httpx.TransportError as exc:
        raise TransientError(
            f"relay: could not download from {_host(url)} ({type(exc).__name__})"
        ) from None


def _check_peer(response: httpx.Response, url: str, policy: DownloadPolicy) -> None:
    """The address the connection really went to must be public too (DNS rebinding)."""
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:
        return
    address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    literal = f"[{address}]" if address.version == 6 else str(address)
    peer_url = f"{urlsplit(url).scheme}://{literal}/"
    problem = check_media_url(peer_url, None, policy.allow_loopback)
    if problem is not None:
        raise RelayRejectError(
            problem.code, f"relay: {_host(url)} connected to {address}: {problem.message}"
        )


def _check_status(status: int, host: str, policy: DownloadPolicy) -> None:
    if 200 <= status < 300:
        return
    if status in _TRANSIENT or status >= 500:
        raise TransientError(f"relay: the source {host} answered HTTP {status}")
    hint = {
        401: f"check {policy.credentials_hint}, or export the links again if they expired",
        403: f"check {policy.credentials_hint}, or export the links again if they expired",
        404: "the recording is gone from the source",
        410: "the recording is gone from the source",
    }.get(status, "check the recording link")
    raise RelayRejectError(
        "relay_source_refused",
        f"relay: the source {host} refused the download (HTTP {status}); {hint}",
    )


def _host(url: str) -> str:
    """The URL's host for messages, invisible characters shown escaped."""
    try:
        host = (urlsplit(url).hostname or "?").lower()
    except ValueError:
        return "?"
    return host.encode("ascii", "backslashreplace").decode()
