"""check_media_url: every vector of reliability_notes.md "media_url" is refused; public URLs pass.

No test touches the network: name checks go through an injected resolver, and socket look-ups
are made to fail loudly.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

import pytest

from sources.engagements.media_url import check_media_url

PRIVATE_IPV4 = [
    "127.0.0.1",
    "0.0.0.0",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.170.2",
    "100.64.0.1",
    "100.100.100.200",
    "192.0.0.192",
    "198.18.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
]
NON_CANONICAL_IPV4 = [
    "2130706433",
    "3232235521",
    "2852039166",
    "0x7f000001",
    "0x7f.0.0.1",
    "0xA9FEA9FE",
    "017700000001",
    "0177.0.0.1",
    "0251.0376.0251.0376",
    "127.1",
    "127.0.1",
    "0",
    "0x7f.1",
]
IPV6 = [
    "[::1]",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::ffff:a9fe:a9fe]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "[2002:a9fe:a9fe::]",
    "[fc00::1]",
    "[fd00:ec2::254]",
    "[fe80::1]",
    "[fe80::1%25eth0]",
    "[fec0::1]",
    "[ff02::1]",
]
NAMES = [
    "localhost",
    "LOCALHOST.",
    "localtest.me",
    "a.localtest.me",
    "127.0.0.1.nip.io",
    "metadata.google.internal",
    "anything.internal",
    "anything.local",
    "x.svc.cluster.local",
]
SPELLINGS = ["%31%32%37.0.0.1", "127.0.0.1.", "127。0。0。1", "①②⑦.⓪.⓪.①"]
PRIVATE_HOSTS = PRIVATE_IPV4 + NON_CANONICAL_IPV4 + IPV6 + NAMES + SPELLINGS

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


@pytest.mark.parametrize("host", PRIVATE_HOSTS)
@pytest.mark.parametrize("template", ["https://{}/rec.mp3", "https://{}:443/rec.mp3?x=1"])
def test_private_host_rejected(host: str, template: str) -> None:
    problem = check_media_url(template.format(host))
    assert problem is not None
    assert problem.code == "media_url_private_host"
    assert problem.message


@pytest.mark.parametrize("host", PRIVATE_HOSTS)
def test_private_host_rejected_even_if_resolver_says_public(host: str) -> None:
    problem = check_media_url(f"https://{host}/rec.mp3", lambda _: ["93.184.216.34"])
    assert problem is not None and problem.code == "media_url_private_host"


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
    assert problem is not None and problem.code == "media_url_private_host"


# Regression: `https://:443/` (a port and no host) was accepted.
def test_port_without_host_rejected() -> None:
    problem = check_media_url("https://:443/rec.mp3")
    assert problem is not None and problem.code == "media_url_invalid"
