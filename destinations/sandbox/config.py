"""Settings of the local engagement-API sandbox (HubSpot Engagements v1 and AskElephant v2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxConfig:
    """What the sandbox accepts and how hard it pushes back.

    The defaults mirror the real services (HubSpot Free/Starter limits, AskElephant's per-second
    limit) so that a connector tuned against the sandbox behaves the same in production.
    """

    token: str = "sandbox-token"
    """Bearer token both APIs accept; anything else is answered with 401."""
    v1_requests_per_10s: int = 100
    """HubSpot-style rolling 10-second window, per token."""
    v1_daily_limit: int = 250_000
    """HubSpot daily budget, per token, reset at midnight UTC."""
    v2_requests_per_second: float = 10.0
    """AskElephant rate; beyond it the sandbox answers 429 with Retry-After."""
    store_path: str | None = None
    """sqlite file that keeps engagements across restarts; None keeps them in memory."""
    portal_id: int = 62515
    """HubSpot portal (Hub) id reported on every v1 engagement."""
    allow_loopback_media: bool = False
    """Testing switch: accept media_url hosts on 127.0.0.0/8, ::1 and localhost."""
