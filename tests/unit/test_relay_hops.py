"""The relay checks every redirect hop with the media_url rules, in the canonical form it then
requests (issue 12): a redirect to any vector of the SSRF corpus is refused before it is
followed. httpx's MockTransport answers, so no socket is opened."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from destinations.engagements.download import (
    DownloadPolicy,
    check_hop,
    http_client,
    open_recording,
)
from sources.engagements.media_url import canonical_url
from sources.errors import RelayRejectError
from tests.unit.ssrf_vectors import HOST_VECTORS, LEGITIMATE, SYNTAX_VECTORS

START = "https://media.example.com/r/1.mp3"
POLICY = DownloadPolicy(hosts=("media.example.com",), credentials_hint="[sources.twilio]")
# Syntax vectors that are absolute URLs (a relative one is joined onto the previous hop).
ABSOLUTE = [(u, c) for u, c in SYNTAX_VECTORS if "://" in u and u.isascii() and " " not in u]
REDIRECTS = HOST_VECTORS + ABSOLUTE


def client_redirecting_to(location: str, seen: list[str]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if len(seen) == 1:
            return httpx.Response(302, headers=[(b"location", location.encode())])
        return httpx.Response(200, headers={"content-type": "audio/mpeg"}, content=b"ID3")

    return http_client(transport=httpx.MockTransport(answer))  # the relay's own client


@pytest.mark.parametrize(("url", "code"), REDIRECTS)
def test_each_hop_is_checked_with_the_media_url_rules(url: str, code: str) -> None:
    with pytest.raises(RelayRejectError) as refused:
        check_hop(url, POLICY, redirected=True)
    assert refused.value.code == code
    assert str(refused.value).startswith("relay: a redirect to")
    assert str(refused.value).isascii()


@pytest.mark.parametrize(("url", "code"), REDIRECTS)
def test_a_redirect_to_a_vector_is_never_followed(url: str, code: str) -> None:
    seen: list[str] = []
    with (
        client_redirecting_to(url, seen) as client,
        pytest.raises(RelayRejectError) as refused,
        open_recording(client, START, {"Authorization": "Bearer t"}, POLICY),
    ):
        pass
    assert refused.value.code == code
    assert seen == [START]  # the hop was refused before any request went to it


def test_a_redirect_is_followed_in_its_canonical_form() -> None:
    seen: list[str] = []
    target = "https://Bücher.example/r/録音.mp3"
    policy = DownloadPolicy(
        hosts=("media.example.com", "xn--bcher-kva.example"), credentials_hint=""
    )
    with (
        client_redirecting_to(target, seen) as client,
        open_recording(client, START, {}, policy) as response,
    ):
        assert response.status_code == 200
    assert seen == [START, "https://xn--bcher-kva.example/r/%E9%8C%B2%E9%9F%B3.mp3"]


@pytest.mark.parametrize("url", LEGITIMATE)
def test_real_recording_hosts_pass_the_hop_check(url: str) -> None:
    sent = canonical_url(url)
    assert sent is not None
    policy = DownloadPolicy(hosts=(urlsplit(sent).hostname or "",), credentials_hint="")
    assert check_hop(url, policy) == sent
