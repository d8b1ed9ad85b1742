"""Per-job settings the request builders need (decided by the user, never by the data)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sources.engagements.maps import ContactIndex, OwnerIndex
from sources.engagements.media_url import Resolver

# HubSpot's built-in call outcomes (GUIDs are the same in every portal).
HUBSPOT_DEFAULT_DISPOSITIONS: Mapping[str, str] = {
    "busy": "9d9162e7-6cf3-4944-bf63-4dff82258764",
    "connected": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
    "left_live_message": "a4c4c377-d246-4b32-a13b-75a56a4cd0ff",
    "left_voicemail": "b2cf5968-551e-4856-9783-52b3da59a7d0",
    "no_answer": "73a0d17f-1163-4015-bdd5-ec830791da20",
    "wrong_number": "17b47fee-58de-441e-a44c-c6300d46f273",
}


_SEPARATORS = re.compile(r"[\s_-]+")


def disposition_key(value: str) -> str:
    """The one normalisation of a disposition name, for map keys and record values alike:
    case folded, runs of spaces, hyphens and underscores as one `_` (`Demo booked`,
    `demo-booked` and `DEMO_BOOKED` are the same key)."""
    return _SEPARATORS.sub("_", value.strip().lower()).strip("_")


@dataclass(frozen=True)
class BuildSettings:
    source_system: str
    is_private: bool | None = None
    allow_unassociated: bool = False
    truncate_transcripts: bool = False
    contacts: ContactIndex = field(default_factory=ContactIndex)
    owners: OwnerIndex = field(default_factory=OwnerIndex)
    dispositions: Mapping[str, str] = field(default_factory=lambda: HUBSPOT_DEFAULT_DISPOSITIONS)
    # validate_dns: media_url host names are resolved and every address must be public. The
    # resolver is injected (tests pass a fake; the job passes a cached DNS look-up).
    resolve: Resolver | None = None
    # When the request is built (recording links that expired by then are rejected), and
    # whether the job's relay re-hosts media the API cannot fetch itself: then such requests
    # are staged with the source URL, which the relay swaps for its own link at send time.
    now: datetime | None = None
    relay: bool = False
    # Testing switch (`[engagement_sync] allow_loopback_media`): media on 127.0.0.1 passes.
    allow_loopback_media: bool = False

    def __post_init__(self) -> None:
        keys = {disposition_key(k): v for k, v in self.dispositions.items()}
        object.__setattr__(self, "dispositions", {**self.dispositions, **keys})
