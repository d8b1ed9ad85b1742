"""Client-side check of a v2 `media_url`, mirroring the API's rules and a stricter policy of ours.

The API fetches media_url itself and refuses http, private/internal addresses and non-media
content (seed 004). This check rejects such records before sending, naming the rule. It checks
the URL in the form that is sent: `canonical_url` (the function the builders stage with) first,
then the rules on its host, and it refuses a host whose spelling changes under canonicalisation
(invisible characters IDNA deletes, percent-encoding, a label that splits, bad punycode). Where
we are stricter than the seed (userinfo, CGNAT, multicast, internal names, disguised hosts) the
reason is labelled policy. Pure: no DNS unless a resolver is passed in.
"""

from __future__ import annotations

import encodings.idna
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from sources.engagements.media_hosts import (
    IPAddress,
    embedded_ipv4,
    internal_name,
    is_public,
    numeric_tail,
    parse_ip,
)

Resolver = Callable[[str], Iterable[str]]

_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f\\]")  # whitespace, control characters, backslash
_SENT_HOST = re.compile(r"^(?:[a-z0-9_-]+\.)*[a-z0-9_-]+\.?$", re.IGNORECASE)  # LDH labels
__all__ = ["IPAddress", "MediaUrlProblem", "Resolver", "canonical_url", "check_media_url"]


@dataclass(frozen=True)
class MediaUrlProblem:
    code: str  # a reason code from reasons.py
    message: str


def check_media_url(
    url: str, resolve: Resolver | None = None, allow_loopback: bool = False
) -> MediaUrlProblem | None:
    """None when `url` may be sent as media_url (as `canonical_url(url)`), else the first rule
    it breaks. Every verdict depends on the scheme and host alone, never on the path.

    `allow_loopback` is a testing switch (`[engagement_sync] allow_loopback_media`): http or
    https URLs on 127.0.0.0/8, ::1 or localhost pass, so tests can serve media on 127.0.0.1.
    """
    if allow_loopback and is_loopback_url(url):
        return None
    if problem := _syntax(url):
        return problem
    sent = canonical_url(url)
    if sent is None:
        return _invalid("the recording URL's host is not a valid international domain name")
    written = _host_of(urlsplit(url).netloc)
    return _check_host(written, _host_of(urlsplit(sent).netloc), resolve)


def _syntax(url: str) -> MediaUrlProblem | None:
    if _UNSAFE.search(url):
        return _invalid("media_url contains spaces, control characters or a backslash")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return _invalid("media_url is not a valid URL")
    if parts.scheme.lower() != "https":
        return MediaUrlProblem(
            "media_url_not_https", f"media_url must use https, not {parts.scheme or 'no scheme'}"
        )
    if "@" in parts.netloc:
        return MediaUrlProblem(
            "media_url_userinfo", "media_url carries credentials (policy: never in a URL)"
        )
    if not _host_of(parts.netloc).strip("."):
        return _invalid("media_url has no host")
    return None


def is_loopback_url(url: str) -> bool:
    """An http(s) URL without userinfo whose host, as sent, is 127.0.0.0/8, ::1 or localhost."""
    if _UNSAFE.search(url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc:
        return False
    sent = canonical_url(url)
    host = _host_of(urlsplit(sent).netloc).lower().rstrip(".") if sent else ""
    if "%" in host or not (host.startswith("[") or _SENT_HOST.match(host)):
        return False
    address = parse_ip(host)
    if address is None:
        return host == "localhost"
    return address.is_loopback or any(a.is_loopback for a in embedded_ipv4(address))


def _host_of(netloc: str) -> str:
    """The host part of a netloc without userinfo: `[v6]` kept bracketed, the port cut off."""
    if netloc.startswith("["):
        return netloc[: netloc.find("]") + 1]
    host, colon, port = netloc.rpartition(":")
    return host if colon and (port.isdigit() or port == "") else netloc


def _check_host(written: str, sent: str, resolve: Resolver | None) -> MediaUrlProblem | None:
    """The rules on the host as sent; `written` is the host as the record spells it."""
    if sent.startswith("["):
        address = parse_ip(sent.lower())
        if address is None:
            return _invalid(f"media_url host {sent} is not a valid IPv6 address")
        return _check_address(address, sent.lower())
    if "%" in written:
        return _disguised(written, "percent-encoding (%xx) in the host")
    if sent != _idna(written):
        return _disguised(written, f"the host becomes {sent!r} when encoded (IDNA)")
    if not _SENT_HOST.match(sent):
        return _invalid(f"media_url host {_ascii(written)} is not a host name")
    host = sent.lower().rstrip(".")
    address = parse_ip(host)
    if address is not None:
        shown = host if written.isascii() else f"{host} (written {_ascii(written)})"
        return _check_address(address, shown)
    if why := internal_name(host):
        return MediaUrlProblem(
            "media_url_internal_name",
            f"media_url host {host} is internal without any DNS look-up: {why} (policy)",
        )
    if hidden := _deleted_characters(written):
        return _disguised(written, f"invisible characters IDNA deletes ({hidden})")
    if bad := _bad_punycode(host):
        return _disguised(written, f"the label {bad} is not valid punycode")
    if numeric_tail(host):
        return _invalid(f"media_url host {host} ends in a number but is no IPv4 address")
    for resolved in resolve(host) if resolve is not None else ():
        problem = _check_address(ipaddress.ip_address(resolved), resolved)
        if problem:
            message = f"{host} resolves to {resolved}: {problem.message}"
            return MediaUrlProblem(problem.code, message)
    return None


def _check_address(address: IPAddress, shown: str) -> MediaUrlProblem | None:
    if not is_public(address):
        return MediaUrlProblem(
            "media_url_private_host", f"media_url host {shown} is not a public address"
        )
    if "%" in shown:
        return _disguised(shown, "an IPv6 zone id, which means nothing off this machine")
    return None


def _invalid(message: str) -> MediaUrlProblem:
    return MediaUrlProblem("media_url_invalid", message)


def _disguised(written: str, what: str) -> MediaUrlProblem:
    return MediaUrlProblem(
        "media_url_disguised_host",
        f"media_url host {_ascii(written)} is spelled to hide where it leads: {what} (policy)",
    )


def _ascii(text: str) -> str:
    """`text` with non-ASCII characters escaped, so invisible ones show in a message."""
    return text.encode("ascii", "backslashreplace").decode()


def _idna(host: str) -> str:
    """The host as canonical_url encodes it (unchanged when ASCII)."""
    return host if host.isascii() else host.encode("idna").decode("ascii")


def _deleted_characters(host: str) -> str:
    """The characters of `host` that IDNA maps to nothing (U+00AD, U+200B, U+FE00, …)."""
    if host.isascii():
        return ""
    gone = {ch for ch in host if not _nameprep(ch)}
    return ", ".join(f"U+{ord(ch):04X}" for ch in sorted(gone))


def _nameprep(ch: str) -> str:
    try:
        return encodings.idna.nameprep(ch)
    except UnicodeError:
        return ch  # prohibited: encoding the host fails, so this is never reached


def _bad_punycode(host: str) -> str | None:
    """A label `xn--…` that does not decode and encode back to itself."""
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                label.encode("ascii").decode("idna")
            except UnicodeError:
                return label
    return None


_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def canonical_url(url: str) -> str | None:
    """`url` as it is staged and sent: an RFC 3986 URI (the seed's `format: uri`) with an IDNA
    host, percent-encoded path and query, the rest as written; None when the host is not a
    valid international domain name. Idempotent; check_media_url checks this form."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
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
