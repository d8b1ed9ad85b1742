"""Settings of the local engagement-API sandbox (HubSpot Engagements v1 and AskElephant v2)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

_RATES = (
    "error_rate",
    "lost_response_rate",
    "read_timeout_rate",
    "media_timeout_rate",
    "locked_rate",
)


@dataclass(frozen=True)
class SandboxConfig:
    """What the sandbox accepts and how hard it pushes back.

    The defaults mirror the real services (HubSpot Free/Starter limits, AskElephant's per-second
    limit) so that a connector tuned against the sandbox behaves the same in production. Every
    fault switch is off by default; faults only ever touch create requests (see faults.py).
    """

    token: str = "sandbox-token"
    """Bearer token both APIs accept; anything else is answered with 401."""
    v1_requests_per_10s: int = 100
    """HubSpot-style rolling 10-second window, per token."""
    v1_daily_limit: int = 250_000
    """HubSpot daily budget, per token (v1 and CRM objects together), reset at midnight in the
    portal time zone (US/Eastern)."""
    v2_requests_per_second: float = 10.0
    """AskElephant rate; beyond it the sandbox answers 429 with Retry-After."""
    store_path: str | None = None
    """sqlite file that keeps engagements across restarts; None keeps them in memory."""
    portal_id: int = 62515
    """HubSpot portal (Hub) id of `token`; its v2 workspace has the same number."""
    tenants: tuple[tuple[str, int], ...] = ()
    """More (token, portal id) pairs behind the same base URL: each token is its own HubSpot
    portal and AskElephant workspace, with its own engagements and rate limits."""
    no_account_scope: tuple[str, ...] = ()
    """Tokens whose app lacks the `oauth` scope: the account information API answers 403."""
    write_only: tuple[str, ...] = ()
    """Tokens that may only write (a v2 key with `engagements:write` alone, a v1 app with the
    write scopes alone): every engagements read (GET) answers 403; account information is
    `no_account_scope`'s business."""
    account_info_versions: tuple[str, ...] = ("2026-03", "v3")
    """Versions of /account-info/{version}/details served (others answer 404)."""
    allow_loopback_media: bool = False
    """Testing switch: accept media_url hosts on 127.0.0.0/8, ::1 and localhost (http too)."""
    crm_version: str = "2026-03"
    """Version segment of the CRM objects and properties APIs (/crm/objects/{version}/calls...);
    other versions and the numbered v3 paths answer 404 (docs/hubspot_objects.md section 1)."""
    search_lag_s: float = 0.0
    """CRM search index lag: objects created or updated less than this ago are not yet found by
    search (batch read is read-your-writes) (note section 7, A8, A15)."""
    search_requests_per_second: float = 5.0
    """CRM search limit per token (portal), outside the 10-second window; 429 SECONDLY beyond it
    (note section 6, A5)."""
    search_in_max_values: int = 100
    """Most values one IN filter may carry (note A2)."""
    refuse_unique_on_activities: bool = False
    """Make POST /crm/properties/.../{calls|meetings} refuse hasUniqueValue (note A9)."""
    custom_dispositions: tuple[str, ...] = ()
    """Extra hs_call_disposition GUIDs a portal defined, besides HubSpot's six (note 4.1, A18)."""
    custom_meeting_outcomes: tuple[str, ...] = ()
    """Extra hs_meeting_outcome values, besides the five defaults (note 4.2, A18)."""
    missing_association_ids: tuple[str, ...] = ()
    """Contact/company/deal ids that do not exist in any portal: associating to one is refused
    (note section 11 "target ids must exist"); every other numeric id exists."""
    token_scopes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(token, scopes) of apps with only these scopes on the CRM APIs (note 9.1); a token not
    listed has every scope."""
    recording_user: str = "AC-sandbox"
    """Basic-auth user of /_sandbox/recordings/basic/… (like a Twilio account SID)."""
    recording_password: str = "sandbox-auth-token"
    """Basic-auth password of those recordings (like a Twilio auth token)."""
    recording_token: str = "sandbox-recording-token"
    """Bearer token of /_sandbox/recordings/bearer/… (like a RingCentral or Zoom token)."""

    # ---- fault injection (create requests only) ------------------------------------------------
    seed: int = 0
    """Seed of the one random.Random that decides every probabilistic fault (replayable runs)."""
    latency_ms: float = 0.0
    """Delay added to every create request before it is answered (the server stays concurrent)."""
    error_rate: float = 0.0
    """Fraction of creates answered 500 in the API's dialect; nothing is stored."""
    lost_response_rate: float = 0.0
    """Fraction of creates that are stored, then answered by closing the connection."""
    read_timeout_rate: float = 0.0
    """Fraction of creates that are stored, then answered only after read_timeout_s."""
    read_timeout_s: float = 5.0
    """How long a read-timeout fault holds the answer back (or until the client hangs up)."""
    storm_every: int = 0
    """429 storm period in create requests per API; 0 switches storms off."""
    storm_length: int = 0
    """How many consecutive creates at the end of each storm_every get 429; nothing stored."""
    media_timeout_rate: float = 0.0
    """v2 only: fraction of valid creates answered 422 media_download_timeout; nothing stored."""
    locked_rate: float = 0.0
    """CRM batch writes only: fraction answered 423 Locked; nothing stored (note 3.4)."""

    def scopes_of(self, token: str) -> tuple[str, ...] | None:
        """The CRM scopes a token's app was granted; None means every scope."""
        for known, scopes in self.token_scopes:
            if secrets.compare_digest(token.encode(), known.encode()):
                return scopes
        return None

    def portal_of(self, token: str | None) -> int | None:
        """The portal (and workspace) a bearer token belongs to; None for an unknown token."""
        if token is None:
            return None
        found = None
        for known, portal in ((self.token, self.portal_id), *self.tenants):
            if secrets.compare_digest(token.encode(), known.encode()):
                found = portal
        return found

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction from 0 to 1 (e.g. 0.1), got {value}")
        for name in ("latency_ms", "read_timeout_s", "search_lag_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.search_requests_per_second <= 0 or self.search_in_max_values < 1:
            raise ValueError(
                "search_requests_per_second and search_in_max_values must be positive, got "
                f"{self.search_requests_per_second} and {self.search_in_max_values}"
            )
        if self.storm_every < 0 or not 0 <= self.storm_length <= self.storm_every:
            raise ValueError(
                f"storm_length ({self.storm_length}) must be from 0 to storm_every "
                f"({self.storm_every}); set storm_every to the period, e.g. 10 and 3"
            )
