"""Who a destination is, asked of the destination (DESIGN invariant 8), not read off its URL.

v1 (HubSpot): the portal of the token, from the account information API. Portal ids are
HubSpot-wide, so a token of portal 62515 names the same destination through any HubSpot host;
a base URL that is not HubSpot's (the sandbox, a proxy) is kept in the identity, so the
sandbox's portal 62515 is never the real one.
v2 (AskElephant): the API names no workspace, so the workspace is bound to the token through a
keyed fingerprint (HMAC-SHA256 with a key kept in the staging): never the token, never a plain
hash of it. A new token or a new key is a new destination; a resend to a workspace that already
holds the record is answered 200 and recorded `existing`.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from destinations.engagements.client import EngagementsClient
from destinations.engagements.outcomes import classify
from sources.errors import ScopeError, StopRunError, TransientError

ACCOUNT_PATHS = ("/account-info/2026-03/details", "/account-info/v3/details")
ACCOUNT_SCOPE = "oauth"  # the scope HubSpot's account information reference page lists
_HUBSPOT_HOST = "hubapi.com"


def normalised_url(base_url: str) -> str:
    """scheme://host[:port]/path, lower-cased host, no trailing slash (the pre-identity key)."""
    parts = urlsplit(base_url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def portal_destination(portal_id: int, base_url: str) -> str:
    """The ledger's name for a HubSpot portal reached through base_url."""
    host = (urlsplit(base_url).hostname or "").lower()
    hubspot = urlsplit(base_url).scheme == "https" and (
        host == _HUBSPOT_HOST or host.endswith("." + _HUBSPOT_HOST)
    )
    where = "" if hubspot else f"@{normalised_url(base_url)}"
    return f"hubspot-portal:{portal_id}{where}"


def workspace_destination(base_url: str, token: str, key: bytes) -> str:
    """The ledger's name for the AskElephant workspace of `token` (keyed fingerprint)."""
    digest = hmac.new(key, token.encode(), hashlib.sha256).hexdigest()[:32]
    return f"askelephant-token:{digest}@{normalised_url(base_url)}"


def portal_id(client: EngagementsClient) -> int:
    """The portal of the client's token; StopRunError with one line when it cannot be read."""
    for path in ACCOUNT_PATHS:
        try:
            response = client.get(path)
        except TransientError as exc:
            raise StopRunError(
                f"v1: cannot ask {path} which portal the token belongs to ({exc}); check the "
                "network or base_url and run again"
            ) from None
        if response.status == 404:
            continue  # an older API version only: try the next path
        if response.status == 403:
            raise ScopeError(
                f"v1: the token may not read HubSpot's account information ({path}, HTTP 403); "
                f"add the scope `{ACCOUNT_SCOPE}` to the private app and run again (it names "
                "the portal deliveries belong to)"
            )
        if response.status != 200:
            classify("v1", response.status, response.headers, response.content)
            raise StopRunError(f"v1: {path} answered HTTP {response.status}; run again later")
        found = (response.json() or {}).get("portalId")
        if isinstance(found, int) and not isinstance(found, bool):
            return found
        raise StopRunError(f"v1: {path} gave no portalId; check base_url points at HubSpot")
    raise StopRunError(
        f"v1: {' and '.join(ACCOUNT_PATHS)} are not served at {client.base_url}; check "
        "base_url, or set destination_id under [destination.engagements_v1]"
    )
