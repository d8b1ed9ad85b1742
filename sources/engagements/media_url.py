"""Client-side check of a v2 `media_url`, mirroring the API's rules and a stricter policy of ours.

The API fetches media_url itself and refuses http, private/internal addresses and non-media
content (seed 004). This check rejects such records before sending, naming the rule. Where we are
stricter than the seed (userinfo, CGNAT, multicast, names that resolve privately by convention)
the message says "policy". Pure: no DNS unless a resolver is passed in.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

Resolver = Callable[[str], Iterable[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f\\]")  # whitespace, control characters, backslash
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)
_EMBEDDED_IPV4 = re.compile(r"(?:^|[.-])((?:\d{1,3}[.-]){3}\d{1,3})(?:[.-]|$)")
_DENIED_NAMES = ("localhost", "localtest.me")
_DENIED_SUFFIXES = (".localhost", ".local", ".internal", ".localtest.me", ".svc.cluster.local")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_EXTRA_DENIED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "100.64.0.0/10",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "fec0::/10",
        "ff00::/8",
    )
)


@dataclass(frozen=True)
class MediaUrlProblem:
    code: str  # a reason code from reasons.py
    message: str


def check_media_url(
    url: str, resolve: Resolver | None = None, allow_loopback: bool = False
) -> MediaUrlProblem | None:
    """None when `url` may be sent as media_url, else the first rule it breaks.

    `allow_loopback` is a testing switch (`[engagement_sync] allow_loopback_media`): http or
    https URLs on 127.0.0.0/8, ::1 or localhost pass, so tests can serve media on 127.0.0.1.
    """
    if allow_loopback and is_loopback_url(url):
        return None
    if _UNSAFE.search(url):
        return MediaUrlProblem(
            "media_url_invalid", "media_url contains spaces, control characters or a backslash"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return MediaUrlProblem("media_url_invalid", "media_url is not a valid URL")
    if parts.scheme.lower() != "https":
        return MediaUrlProblem(
            "media_url_not_https", f"media_url must use https, not {parts.scheme or 'no scheme'}"
        )
    if "@" in parts.netloc:
        return MediaUrlProblem(
            "media_url_userinfo", "media_url carries credentials (policy: never in a URL)"
        )
    host = normalise_host(_host_of(parts.netloc))
    if not host:
        return MediaUrlProblem("media_url_invalid", "media_url has no host")
    return _check_host(host, resolve)


def is_loopback_url(url: str) -> bool:
    """An http(s) URL without userinfo whose host is 127.0.0.0/8, ::1 or localhost."""
    if _UNSAFE.search(url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc:
        return False
    host = normalise_host(_host_of(parts.netloc))
    address = parse_ip(host)
    if address is None:
        return host == "localhost"
    return _unwrap(address).is_loopback


def _host_of(netloc: str) -> str:
    """The host part of a netloc without userinfo: `[v6]` kept bracketed, the port cut off."""
    if netloc.startswith("["):
        return netloc[: netloc.find("]") + 1]
    host, colon, port = netloc.rpartition(":")
    return host if colon and (port.isdigit() or port == "") else netloc


def normalise_host(netloc_host: str) -> str:
    """The host as a lenient fetcher sees it: %-decoded, NFKC, ideographic dots, no final dot."""
    host = unquote(netloc_host)
    host = unicodedata.normalize("NFKC", host).translate(_DOTS).lower()
    if host.startswith("["):
        return host
    return host.rstrip(".")


def _check_host(host: str, resolve: Resolver | None) -> MediaUrlProblem | None:
    address = parse_ip(host)
    if address is not None:
        return _check_address(address)
    if host in _DENIED_NAMES or host.endswith(_DENIED_SUFFIXES):
        return MediaUrlProblem(
            "media_url_private_host", f"media_url host {host} is internal by name (policy)"
        )
    embedded = _EMBEDDED_IPV4.search(host)
    if embedded:
        inner = parse_ip(embedded.group(1).replace("-", "."))
        if inner is not None and _check_address(inner):
            return MediaUrlProblem(
                "media_url_private_host",
                f"media_url host {host} embeds a "
                "private address (policy: wildcard DNS such as nip.io)",
            )
    if resolve is not None:
        for resolved in resolve(host):
            problem = _check_address(ipaddress.ip_address(resolved))
            if problem:
                return MediaUrlProblem(
                    problem.code, f"{host} resolves to {resolved}: " + problem.message
                )
    return None


def parse_ip(host: str) -> IPAddress | None:
    """An IP address in any spelling a fetcher accepts (127.1, 0x7f000001, 0177.0.0.1, [::1])."""
    if host.startswith("[") and host.endswith("]"):
        literal = host[1:-1].split("%", 1)[0]
        try:
            return ipaddress.IPv6Address(literal)
        except ValueError:
            return None
    if not _NUMERIC_HOST.match(host) or not any(ch.isdigit() for ch in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden inside an IPv6 one (mapped, compatible, 6to4, Teredo, NAT64)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64 or (int(address) >> 32 == 0 and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _check_address(address: IPAddress) -> MediaUrlProblem | None:
    inner = _unwrap(address)
    for candidate in (address, inner):
        if not candidate.is_global or any(candidate in net for net in _EXTRA_DENIED):
            return MediaUrlProblem(
                "media_url_private_host", f"media_url host {address} is not a public address"
            )
    return None


_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def as_uri(url: str) -> str | None:
    """`url` as an RFC 3986 URI: IDNA host, percent-encoded path and query (the seed's
    `format: uri`); None when the host is not a valid international domain name."""
    parts = urlsplit(url)
    host = _host_of(parts.netloc)
    port = parts.netloc[len(host) :]
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return urlunsplit(
        (
            parts.scheme.lower(),
            host + port,
            quote(parts.path, safe=_PATH_SAFE),
            quote(parts.query, safe=_QUERY_SAFE),
            quote(parts.fragment, safe=_QUERY_SAFE),
        )
    )
