"""Host names the emulated API refuses without DNS, and how its fetcher spells a host.

The sandbox never resolves names, so it decides like a fetcher that would end up inside: the
host is mapped the way IDNA maps it (invisible characters deleted, then encoded), and a name is
refused when its meaning is fixed by convention: one label, an internal or home suffix, a
service that resolves to 127.0.0.1 or rebinds, or an address spelled into the name for a
wildcard-DNS service (nip.io, sslip.io). Written apart from sources/engagements on purpose: the
agreement tests compare two implementations of one rule set. Pure code.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import unicodedata
from collections.abc import Callable

# Default-ignorable characters a fetcher's IDNA mapping deletes or that render as nothing.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e0fff]"
)
_INTERNAL_ZONES = (
    "localhost", "local", "internal", "localdomain", "lan", "home", "intranet", "corp", "private",
    "priv", "intra", "svc", "arpa", "consul",
)  # fmt: skip
_LOOPBACK_ZONES = (
    "localtest.me", "lvh.me", "vcap.me", "fuf.me", "lacolhost.com", "localho.st", "local.gd",
    "localhost.direct", "ulh.us", "smackaho.st", "rbndr.us", "1u.ms",
)  # fmt: skip
_WILDCARD_ZONES = ("nip.io", "sslip.io", "xip.io", "xip.name", "traefik.me", "nip.direct")
_FOUR_OCTETS = re.compile(r"(?=(?:^|[.-])(\d{1,4}[.-]\d{1,4}[.-]\d{1,4}[.-]\d{1,4})(?:[.-]|$))")


def invisible_characters(host: str) -> list[str]:
    return _INVISIBLE.findall(host)


def fetched_host(host: str) -> str:
    """The ASCII host a fetcher connects to: invisible characters gone, IDNA-encoded.
    UnicodeError when the name cannot be encoded."""
    host = _INVISIBLE.sub("", unicodedata.normalize("NFKC", host))
    if host.isascii():
        return host
    return ".".join(
        label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
        for label in host.split(".")
    )


def bad_punycode(host: str) -> bool:
    """A label xn--… that is not the punycode of a lower-case name."""
    for label in host.split("."):
        if not label.startswith("xn--"):
            continue
        try:
            decoded = label[4:].encode("ascii").decode("punycode")
        except UnicodeError:
            return True
        if not decoded or decoded.isascii() or decoded != decoded.lower():
            return True
        if not all(unicodedata.category(ch)[0] in "LMN" or ch == "-" for ch in decoded):
            return True
        if invisible_characters(decoded) or decoded.encode("punycode").decode() != label[4:]:
            return True
    return False


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def internal_rule(host: str, is_forbidden: Callable[[IPAddress], bool]) -> str | None:
    """Why the name host (ASCII, lower case) is internal without DNS; is_forbidden(ip) says
    whether an address spelled into the name is refused."""
    labels = host.split(".")
    if len(labels) == 1:
        return "single-label name"
    if labels[-1] in _INTERNAL_ZONES or host.endswith((".cluster.local", ".home.arpa")):
        return "internal DNS name"
    if any(host == z or host.endswith("." + z) for z in _LOOPBACK_ZONES):
        return "public name that resolves to loopback or rebinds"
    wildcard = any(host == z or host.endswith("." + z) for z in _WILDCARD_ZONES)
    for ip in _spelled(host, wildcard):
        if is_forbidden(ip):
            return f"name spelling the address {ip}"
    return None


def _spelled(host: str, wildcard: bool) -> list[IPAddress]:
    found: list[IPAddress] = []
    for quad in _FOUR_OCTETS.findall(host):
        numbers = [int(n) for n in re.split("[.-]", quad)]
        if max(numbers) < 256:
            found.append(ipaddress.IPv4Address(bytes(numbers)))
        octal = [int(n, 8) if n.startswith("0") and n != "0" and set(n) <= set("01234567")
                 else int(n) for n in re.split("[.-]", quad)]  # fmt: skip
        if max(octal) < 256:
            found.append(ipaddress.IPv4Address(bytes(octal)))
    if wildcard:
        for label in host.split("."):
            for piece in label.split("-"):
                if re.fullmatch("[0-9a-f]{8}", piece):
                    found.append(ipaddress.IPv4Address(bytes.fromhex(piece)))
                elif re.fullmatch("[0-9]{7,10}", piece) and int(piece) < 1 << 32:
                    found.append(ipaddress.IPv4Address(int(piece)))
            if "--" in label:
                with contextlib.suppress(ValueError):
                    found.append(ipaddress.IPv6Address(label.replace("-", ":")))
    return found
