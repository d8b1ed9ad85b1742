"""Which media_url hosts reach a private address: IP literals in every spelling, and host names
that are internal by convention or spell a private address, decided without DNS.

media_url.py canonicalises a URL and hands its host here. Addresses follow the seed's rule
(private / internal ranges) plus our deny-list; names are our policy: without `validate_dns`
nothing is looked up, so only names whose meaning is fixed by convention are refused (single
labels, cluster and home suffixes, loopback-resolving services, wildcard-DNS names spelling a
private address, reverse-DNS names). A public-looking name whose DNS record points inside is
caught only with `validate_dns` (README "media_url rules"). Pure: no DNS, no sockets.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_OCTET = re.compile(r"^[0-9]{1,4}$")
_HEX_IPV4 = re.compile(r"^[0-9a-f]{8}$")
_DECIMAL_IPV4 = re.compile(r"^[0-9]{7,10}$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_EXTRA_DENIED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "100.64.0.0/10", "192.0.0.0/24", "192.88.99.0/24", "198.18.0.0/15", "224.0.0.0/4",
        "240.0.0.0/4", "64:ff9b:1::/48", "2001::/23", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
# Names that are internal by convention (RFC 6761/6762/8375, ICANN name collisions, clusters).
_INTERNAL_SUFFIXES = (
    ".localhost", ".local", ".internal", ".localdomain", ".lan", ".home", ".intranet", ".corp",
    ".private", ".priv", ".intra", ".svc", ".cluster.local", ".home.arpa", ".arpa", ".consul",
)  # fmt: skip
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
# Public names that resolve to 127.0.0.1 (and so does every name under them).
_LOOPBACK_SERVICES = (
    "localtest.me", "lvh.me", "vcap.me", "fuf.me", "lacolhost.com", "localho.st", "local.gd",
    "localhost.direct", "ulh.us", "smackaho.st",
)  # fmt: skip
# Public DNS services that answer with the address a name spells (or rebind to one).
_WILDCARD_DNS = ("nip.io", "sslip.io", "xip.io", "xip.name", "traefik.me", "nip.direct")
_REBINDING_DNS = ("rbndr.us", "1u.ms")


def parse_ip(host: str) -> IPAddress | None:
    """An IP address in any spelling a fetcher accepts (127.1, 0x7f000001, 0177.0.0.1, [::1])."""
    if host.startswith("[") and host.endswith("]"):
        try:
            return ipaddress.IPv6Address(host[1:-1].split("%", 1)[0])
        except ValueError:
            return None
    if not _NUMERIC_HOST.match(host) or not any(ch.isdigit() for ch in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def numeric_tail(host: str) -> bool:
    """The last label is a number: a fetcher (WHATWG) reads the host as IPv4 or refuses it."""
    return bool(_NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]))


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 one leads to: mapped, translated, compatible, 6to4, Teredo
    (server and client), NAT64, ISATAP."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    value = int(address)
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo:
        found.extend(address.teredo)
    low = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address in _NAT64 or (value >> 32 in (0, 0xFFFF0000) and value > 1):
        found.append(low)  # NAT64, IPv4-compatible ::a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d
    if (value >> 32) & 0xFDFFFFFF == 0x5EFE:
        found.append(low)  # ISATAP interface id ::0:5efe:a.b.c.d / ::200:5efe:a.b.c.d
    return found


def is_public(address: IPAddress) -> bool:
    """Globally routable and on no deny-list, nor leading to an address that is not.

    `is_global` alone is not enough: on 3.11.7 it calls 192.0.0.192 and 2002:a9fe:a9fe:: global
    (CVE-2024-4032) and never treats 100.64/10, multicast or fec0::/10 as private.
    """
    for candidate in (address, *embedded_ipv4(address)):
        if not candidate.is_global or any(candidate in net for net in _EXTRA_DENIED):
            return False
    return True


def internal_name(host: str) -> str | None:
    """Why the name `host` (lower case, no final dot, not an IP literal) reaches an internal
    address without any DNS look-up, or None."""
    if host in _LOOPBACK_NAMES:
        return "a name of this machine's loopback interface"
    if "." not in host:
        return "a single-label name, resolved through the local search domains"
    if host.endswith(_INTERNAL_SUFFIXES):
        return "a name internal by convention (local, cluster or home network)"
    if _under(host, _LOOPBACK_SERVICES):
        return "a public name that resolves to 127.0.0.1"
    if _under(host, _REBINDING_DNS):
        return "a DNS-rebinding service"
    wildcard = _under(host, _WILDCARD_DNS)
    for address in _spelled_addresses(host, wildcard):
        if not is_public(address):
            return f"it spells the address {address} (wildcard DNS such as nip.io)"
    return None


def _under(host: str, zones: tuple[str, ...]) -> bool:
    return any(host == zone or host.endswith("." + zone) for zone in zones)


def _spelled_addresses(host: str, wildcard: bool) -> list[IPAddress]:
    """Addresses written into a name: dotted or dashed a.b.c.d anywhere; under a wildcard-DNS
    service also hex (7f000001), decimal (2130706433) and dashed IPv6 (fe80--1) labels."""
    found: list[IPAddress] = []
    parts = re.split(r"[.-]", host)
    for i in range(len(parts) - 3):
        octets = parts[i : i + 4]
        if all(_OCTET.match(o) for o in octets):
            if all(int(o) <= 255 for o in octets):
                found.append(ipaddress.IPv4Address(".".join(str(int(o)) for o in octets)))
            lenient = parse_ip(".".join(octets))  # 0177.0.0.1: octal, as inet_aton reads it
            if lenient is not None:
                found.append(lenient)
    if not wildcard:
        return found
    for label in host.split("."):
        if "--" in label:
            with contextlib.suppress(ValueError):
                found.append(ipaddress.IPv6Address(label.replace("-", ":")))
        for part in label.split("-"):
            if _HEX_IPV4.match(part):
                found.append(ipaddress.IPv4Address(int(part, 16)))
            if _DECIMAL_IPV4.match(part) and int(part) < 2**32:
                found.append(ipaddress.IPv4Address(int(part)))
    return found
