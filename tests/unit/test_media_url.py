"""check_media_url: every vector of the SSRF corpus (tests/unit/ssrf_vectors.py: reliability_notes
"media_url" and issue 12) is refused with its reason; real recording links pass; what is staged
is the canonical form, the one that was checked.

No test touches the network: name checks go through an injected resolver, and socket look-ups
are made to fail loudly.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.engagements.builders import BuiltRequest, build_v2_request
from sources.engagements.media_url import canonical_url, check_media_url
from sources.engagements.reasons import REASONS
from sources.engagements.settings import BuildSettings
from sources.engagements.vectorised import SAFE_URL
from tests.unit.ssrf_vectors import (
    HIDDEN_HOSTS,
    HOST_VECTORS,
    INVISIBLE,
    LEGITIMATE,
    PRIVATE,
    VECTORS,
)

SYNTAX = [
    ("https://good.com@127.0.0.1/", "media_url_userinfo"),
    ("https://user:secret@media.example.com/a.mp3", "media_url_userinfo"),
    ("https://user@media.example.com/a.mp3", "media_url_userinfo"),
    ("https://@media.example.com/a.mp3", "media_url_userinfo"),
    ("https://127.0.0.1\\@good.com/", "media_url_invalid"),
    ("https://media.example.com\\a.mp3", "media_url_invalid"),
    ("https://media.example.com/a b.mp3", "media_url_invalid"),
    (" https://media.example.com/a.mp3", "media_url_invalid"),
    ("https://media.example.com/a.mp3\n", "media_url_invalid"),
    ("https://media.example.com/\x00.mp3", "media_url_invalid"),
    ("https://media.example.com/\t.mp3", "media_url_invalid"),
    ("https://media.example.com/\x7f.mp3", "media_url_invalid"),
    ("https://media.example.com:99999/a.mp3", "media_url_invalid"),
    ("https://[::1/a.mp3", "media_url_invalid"),
    ("https:///a.mp3", "media_url_invalid"),
    ("http://media.example.com/a.mp3", "media_url_not_https"),
    ("HTTP://media.example.com/a.mp3", "media_url_not_https"),
    ("file:///etc/passwd", "media_url_not_https"),
    ("gopher://media.example.com/", "media_url_not_https"),
    ("ftp://media.example.com/a.mp3", "media_url_not_https"),
    ("//media.example.com/a.mp3", "media_url_not_https"),
    ("media.example.com/a.mp3", "media_url_not_https"),
]

PUBLIC = [
    "https://media.example.com/rec/1.mp3",
    "https://media.example.com:443/rec/1.mp3",
    "https://media.example.com/rec/1.mp3?download=1&format=mp3",
    "https://media.example.com/録音/通話.mp3",
    "https://media.example.com/r%C3%A9union.wav",
    "https://bucket.s3.us-east-1.amazonaws.com/rec/1.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20240415%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20240415T140000Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=0123456789abcdef",
    "https://[2606:4700:4700::1111]/rec.mp3",
    "https://[2606:4700:4700::1111]:443/rec.mp3",
    "https://93.184.216.34/rec.mp3",
    "HTTPS://Media.Example.COM/Rec.WAV",
    "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3",
    "https://ec2-54-1-2-3.compute-1.amazonaws.com/a.mp3",
    "https://cdn.example.com/a.mp4#t=10",
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a media_url test tried to use the network: {args}")

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection"):
        monkeypatch.setattr(socket, name, refuse)


class FakeResolver:
    """A Resolver answering from a table, remembering what it was asked."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, host: str) -> Iterable[str]:
        self.calls.append(host)
        return self.table[host]


def test_the_corpus_is_large_and_every_reason_is_in_the_table() -> None:
    assert len(VECTORS) >= 110
    assert len({url for url, _ in VECTORS}) == len(VECTORS)
    for _, code in VECTORS:
        assert code in REASONS
    for code in ("media_url_internal_name", "media_url_disguised_host", "media_url_userinfo"):
        assert REASONS[code].policy, code


@pytest.mark.parametrize(("url", "code"), VECTORS)
def test_every_ssrf_vector_is_refused_with_its_reason(url: str, code: str) -> None:
    problem = check_media_url(url)
    assert problem is not None, url
    assert problem.code == code, problem.message
    assert problem.message.isascii()  # invisible characters are shown escaped


@pytest.mark.parametrize(("url", "code"), HOST_VECTORS)
def test_a_port_and_query_change_nothing(url: str, code: str) -> None:
    scheme, rest = url.split("://", 1)
    host, path = rest.split("/", 1)
    problem = check_media_url(f"{scheme}://{host}:443/{path}?x=1#f")
    assert problem is not None and problem.code == code


@pytest.mark.parametrize(("url", "code"), HOST_VECTORS)
def test_a_vector_is_refused_even_if_the_resolver_says_public(url: str, code: str) -> None:
    problem = check_media_url(url, lambda _: ["93.184.216.34"])
    assert problem is not None and problem.code == code


@pytest.mark.parametrize("url", LEGITIMATE)
def test_real_recording_links_pass_and_are_staged_canonical(url: str) -> None:
    assert check_media_url(url) is None
    built = build_v2_request(_record(url), BuildSettings(source_system="twilio"))
    assert isinstance(built, BuiltRequest), url
    assert built.body["media_url"] == canonical_url(url)


@pytest.mark.parametrize("host", list(HIDDEN_HOSTS))
@pytest.mark.parametrize("char", INVISIBLE)
def test_a_hidden_address_is_never_staged(host: str, char: str) -> None:
    """Issue 12.1: the check used to pass the raw host, then IDNA deleted the character."""
    url = f"https://{host}{char}/latest/meta-data/"
    assert canonical_url(url) == f"https://{host}/latest/meta-data/"  # what would be sent
    assert check_media_url(url) is not None
    assert not isinstance(build_v2_request(_record(url), BuildSettings("twilio")), BuiltRequest)


def _record(url: str) -> dict:
    return {
        "external_id": "twilio:CA1",
        "source_system": "twilio",
        "source_id": "CA1",
        "kind": "call",
        "recording_url": url,
    }


HOST_PIECES = st.sampled_from(
    ["media", "bücher", "例え", "127", "0", "10", "169", "254", "xn--bcher-kva", "xn--zz",
     "localhost", "nip", "io", "example", "com", "MEDIA", "7f000001", "a-b", "-", "_", "%41",
     "\u00ad", "\u200b", "\ufe00", "ｍｅｄｉａ", "①", "。", "ß", "ς", "\u2100", ""]
)  # fmt: skip
HOSTS = st.lists(HOST_PIECES, min_size=1, max_size=5).map(".".join) | st.text(max_size=12)
PATHS = st.text(max_size=12).map(lambda t: "/" + t.replace("#", ""))


@settings(deadline=None)  # never decided by machine speed
@given(HOSTS, st.sampled_from(["", ":443", ":8443", ":"]), PATHS)
def test_what_is_accepted_is_staged_canonical_and_passes_again(
    host: str, port: str, path: str
) -> None:
    url = f"https://{host}{port}{path}"
    if check_media_url(url) is not None:
        return
    sent = canonical_url(url)
    assert sent is not None
    assert canonical_url(sent) == sent  # idempotent
    assert check_media_url(sent) is None  # the checked form passes its own check
    built = build_v2_request(_record(url), BuildSettings("twilio"))
    assert isinstance(built, BuiltRequest) and built.body["media_url"] == sent


@settings(deadline=None)
@given(st.from_regex(SAFE_URL, fullmatch=True))
def test_urls_the_sql_path_stages_as_they_are_are_canonical(url: str) -> None:
    """vectorised.py stages SAFE_URL matches unchanged and checks only their host: that is
    right only if such a URL is its own canonical form and its verdict is its host's."""
    assert canonical_url(url) == url
    host = url.split("/")[2]
    assert check_media_url(url) == check_media_url(f"https://{host}/")


@pytest.mark.parametrize(("url", "code"), SYNTAX)
def test_syntax_rejected(url: str, code: str) -> None:
    problem = check_media_url(url)
    assert problem is not None
    assert problem.code == code


@pytest.mark.parametrize("url", PUBLIC)
def test_public_https_accepted(url: str) -> None:
    assert check_media_url(url) is None


@pytest.mark.parametrize(
    ("addresses", "code"),
    [
        (["10.0.0.1"], "media_url_private_host"),
        (["93.184.216.34", "127.0.0.1"], "media_url_private_host"),
        (["::ffff:10.0.0.1"], "media_url_private_host"),
        (["fe80::1%eth0"], "media_url_private_host"),
        (["100.64.0.1"], "media_url_private_host"),
        (["93.184.216.34"], None),
        (["93.184.216.34", "2606:4700:4700::1111"], None),
    ],
)
def test_resolver_is_injected(addresses: list[str], code: str | None) -> None:
    resolve = FakeResolver({"media.example.com": addresses})
    problem = check_media_url("https://media.example.com/rec.mp3", resolve)
    assert (problem.code if problem else None) == code
    assert resolve.calls == ["media.example.com"]
    if problem:
        assert "media.example.com" in problem.message


def test_ip_literal_is_never_resolved() -> None:
    resolve = FakeResolver({})
    assert check_media_url("https://93.184.216.34/rec.mp3", resolve) is None
    assert check_media_url("https://[2606:4700:4700::1111]/rec.mp3", resolve) is None
    assert resolve.calls == []


# Regression: an empty port (`host:`) hid the host from every check.
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:/rec.mp3",
        "https://169.254.169.254:/latest/meta-data/",
        "https://localhost:/rec.mp3",
        "https://0x7f000001:/rec.mp3",
        "https://10.0.0.1:/rec.mp3",
    ],
)
def test_empty_port_does_not_hide_a_private_host(url: str) -> None:
    problem = check_media_url(url)
    assert problem is not None
    assert problem.code == ("media_url_internal_name" if "localhost" in url else PRIVATE)


# Regression: `https://:443/` (a port and no host) was accepted.
def test_port_without_host_rejected() -> None:
    problem = check_media_url("https://:443/rec.mp3")
    assert problem is not None and problem.code == "media_url_invalid"
