"""Emulation of AskElephant's media_url checks (the 422 rules of POST /v2/engagements).

The real API fetches media_url and refuses private targets and non-media content. The sandbox
must not touch the network, so it decides from the URL alone: the host is parsed the way a
lenient fetcher would (inet_aton-style IPv4 forms, IPv6 with embedded IPv4) and every address
that is not globally routable is refused, a superset of the API's documented list; the content
type is guessed from the path's extension. Pure code: no socket, no DNS unless a resolver is given.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .media_names import bad_punycode, fetched_host, internal_rule, invisible_characters

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Iterable[str]]

NON_MEDIA_EXTENSIONS = (
    ".html", ".htm", ".json", ".txt", ".pdf", ".xml", ".csv", ".zip", ".png", ".jpg", ".jpeg",
    ".gif",
)  # fmt: skip
_DENY_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
        "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_HOST_CHARS = re.compile(r"[^\s/\\@%?#\[\]\x00-\x1f\x7f]+")
_LDH = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")  # what a fetcher puts in a DNS query
_IDEOGRAPHIC_DOTS = ("\u3002", "\uff0e", "\uff61")


@dataclass(frozen=True)
class MediaRejection:
    """Why a media_url is refused: a stable reason code and a message that says the fix."""

    code: str
    message: str


def check_media_url(
    url: str, *, allow_loopback: bool = False, resolve: Resolver | None = None
) -> MediaRejection | None:
    """Return why the API would refuse url as media_url (422), or None when it would accept it.

    allow_loopback admits 127.0.0.0/8, ::1 and localhost, over http too (a testing switch: a
    local S3 emulator signs http links). resolve, when given, maps a host name to its
    addresses, each of which must be public too.
    """
    if not url or "\\" in url or any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        return _invalid("must not be empty or contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        return _invalid(f"is not a valid URL ({exc})")
    plain_loopback = allow_loopback and parts.scheme.lower() == "http" and _loopback(parts.hostname)
    if parts.scheme.lower() != "https" and not plain_loopback:
        shown = parts.scheme or "none"
        return MediaRejection("media_url_not_https", f"media_url must use https (got {shown})")
    if not parts.hostname:
        return _invalid("has no host; send an absolute https URL")
    if "@" in parts.netloc:
        return MediaRejection(
            "media_url_userinfo", "media_url must not contain credentials (user@ or user:pass@)"
        )
    problem = _check_host(parts.hostname, "[" in parts.netloc, allow_loopback, resolve)
    if problem is not None:
        return problem
    if unquote(parts.path).lower().rstrip("/").endswith(NON_MEDIA_EXTENSIONS):
        return MediaRejection(
            "media_url_not_media",
            "media URL does not serve audio or video content; point it at the recording file",
        )
    return None


def _invalid(reason: str) -> MediaRejection:
    return MediaRejection("media_url_invalid", f"media_url {reason}")


def _private(host: str, rule: str) -> MediaRejection:
    return MediaRejection(
        "media_url_private_address",
        f"media_url host {host} resolves to a private or internal address ({rule}); "
        "use a publicly reachable https URL",
    )


def _check_host(
    raw: str, bracketed: bool, allow_loopback: bool, resolve: Resolver | None
) -> MediaRejection | None:
    """Classify the URL's host as an IP literal or a name and apply the address rules."""
    if bracketed:
        try:
            ipv6 = ipaddress.IPv6Address(unquote(raw).split("%")[0])
        except ValueError:
            return _invalid(f"has an invalid IPv6 host [{raw}]")
        problem = _check_ip(ipv6, raw, allow_loopback)
        return problem or (_invalid(f"has an IPv6 zone id [{raw}]") if "%" in raw else None)
    written = normalise_host(raw)
    try:
        host = fetched_host(written)
    except UnicodeError:
        return _invalid(f"has a host that is no valid international name {raw!r}")
    if not host or not _HOST_CHARS.fullmatch(host) or not _LDH.fullmatch(host):
        return _invalid(f"has an invalid host {raw!r}")
    try:
        ipv4 = parse_lenient_ipv4(host)
    except ValueError:
        return _invalid(f"host {raw!r} looks like an IPv4 address but is not a valid one")
    problem = (
        _check_ip(ipv4, host, allow_loopback)
        if ipv4 is not None
        else _check_name(host, allow_loopback, resolve)
    )
    if problem is None and ("%" in raw or invisible_characters(written) or bad_punycode(host)):
        return _invalid(
            f"has a disguised host {raw!r} (percent-encoding, invisible characters or bad "
            "punycode); send the plain host name"
        )
    return problem


def normalise_host(raw: str) -> str:
    """Undo the disguises a fetcher would undo: percent-encoding, fullwidth digits, odd dots."""
    host = unicodedata.normalize("NFKC", unquote(raw))
    for dot in _IDEOGRAPHIC_DOTS:
        host = host.replace(dot, ".")
    return host.lower().rstrip(".")


def parse_lenient_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse host like inet_aton / the WHATWG URL parser: 1-4 parts, decimal, 0-octal or 0x-hex.

    Returns None when host is a name (its last label is not numeric); raises ValueError when it
    ends in a number but is no valid address (fetchers refuse those too).
    """
    labels = host.split(".")
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    if len(labels) > 4:
        raise ValueError(host)
    numbers = [_parse_ipv4_part(label) for label in labels]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(host)
    value = sum(n << (8 * (3 - i)) for i, n in enumerate(head)) + last
    return ipaddress.IPv4Address(value)


def _parse_ipv4_part(label: str) -> int:
    if label.startswith("0x"):
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label, 10)


def _check_name(host: str, allow_loopback: bool, resolve: Resolver | None) -> MediaRejection | None:
    if host == "localhost" or host.endswith(".localhost"):
        return None if allow_loopback else _private(host, "localhost")
    rule = internal_rule(host, lambda ip: _check_ip(ip, host, allow_loopback) is not None)
    if rule is not None:
        return _private(host, rule)
    for address in resolve(host) if resolve else ():
        problem = _check_ip(ipaddress.ip_address(address), host, allow_loopback)
        if problem is not None:
            return problem
    return None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses a packet to ip may really reach: mapped, compatible, 6to4, Teredo, NAT64."""
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found.extend(ip.teredo)
    low = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64 or ip in _IPV4_TRANSLATED or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(low)
    if (int(ip) >> 32) & 0xFFFFFFFF in (0x5EFE, 0x02005EFE):  # ISATAP interface id
        found.append(low)
    return found


def _loopback(hostname: str | None) -> bool:
    """A loopback host in any spelling (127.1, [::1], localhost)."""
    host = normalise_host(hostname or "")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip: IPAddress | None = ipaddress.IPv6Address(host) if ":" in host else None
        ip = ip or parse_lenient_ipv4(host)
    except ValueError:
        return False
    return ip is not None and _is_loopback(ip)


def _is_loopback(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        return ip.is_loopback or any(a.is_loopback for a in embedded_ipv4(ip))
    return ip.is_loopback


def _check_ip(ip: IPAddress, shown: str, allow_loopback: bool) -> MediaRejection | None:
    """Refuse ip unless it and every IPv4 address embedded in it are globally routable."""
    if allow_loopback and _is_loopback(ip):
        return None
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        candidates.extend(embedded_ipv4(ip))
    for candidate in candidates:
        rule = forbidden_rule(candidate)
        if rule is not None:
            return _private(shown, rule)
    return None


def forbidden_rule(ip: IPAddress) -> str | None:
    """The deny rule ip falls under, or None when it is a public unicast address.

    ipaddress alone is not enough: on 3.11.7 it calls 192.0.0.192 and 2002:a9fe:a9fe:: global
    (CVE-2024-4032) and never treats 100.64/10, multicast or fec0::/10 as private.
    """
    for network in _DENY_NETWORKS:
        if network.version == ip.version and ip in network:
            return str(network)
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return "not globally routable"
    return None
