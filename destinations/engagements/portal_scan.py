"""v1: which pending records does the portal already hold? Asked before a staging that has never
delivered to a portal sends anything there (a new or lost staging), and by `reconcile`.

A look-up serves many records: the portal's engagements are read a page at a time
(`/engagements/v1/engagements/paged`, 250 per request) and matched on the reconciliation
fingerprint (reconcile.matches). An empty or small portal costs one request. When the portal is
big and every pending record has a contact, the scan stops once it has cost as many requests as
there are distinct contacts, and each contact's own engagements are read instead (whichever is
cheaper, bounded by twice the cheaper one); a record without a contact needs the whole scan.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from destinations.engagements.client import EngagementsClient
from destinations.engagements.reconcile import matches, pages

SCAN_PATH = "/engagements/v1/engagements/paged"
SCAN_LIMIT = 250
CONTACT_LIMIT = 100


@dataclass
class Lookup:
    """What a look-up found: external_id -> engagement id, and the requests it cost."""

    found: dict[str, str] = field(default_factory=dict)
    requests: int = 0


class _Index:
    """Engagements read back, by (type, timestamp), for fingerprint matching."""

    def __init__(self, taken: set[str]) -> None:
        self._by_key: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
        self.taken = set(taken)

    def add_all(self, engagements: list[dict[str, Any]]) -> None:
        for engagement in engagements:
            head = engagement.get("engagement", {})
            self._by_key[(head.get("type"), head.get("timestamp"))].append(engagement)

    def match(self, sent: dict[str, Any]) -> str | None:
        head = sent.get("engagement", {})
        for candidate in self._by_key.get((head.get("type"), head.get("timestamp")), []):
            engagement_id = str(candidate.get("engagement", {}).get("id"))
            if engagement_id not in self.taken and matches(sent, candidate):
                self.taken.add(engagement_id)
                return engagement_id
        return None


def find_existing(
    client: EngagementsClient, pending: dict[str, dict[str, Any]], taken: set[str]
) -> Lookup:
    """Which of `pending` (external_id -> v1 request) the portal holds; never an id in `taken`.

    TransientError when the portal could not be read whole (nothing may then be sent)."""
    lookup, index = Lookup(), _Index(taken)
    contacts = {ext: _first_contact(body) for ext, body in pending.items()}
    budget = len(set(contacts.values())) if all(contacts.values()) else None
    complete = _scan(client, index, lookup, budget)
    unmatched = _match_all(index, pending, lookup)
    if complete or not unmatched:
        return lookup
    by_contact: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    for ext in unmatched:
        by_contact[contacts[ext]][ext] = pending[ext]  # type: ignore[index]
    for contact, bodies in by_contact.items():
        path = f"/engagements/v1/engagements/associated/CONTACT/{contact}/paged"
        for results, _ in pages(client, path, {"limit": CONTACT_LIMIT}, max_pages=None):
            lookup.requests += 1
            index.add_all(results)
        _match_all(index, bodies, lookup)
    return lookup


def _scan(client: EngagementsClient, index: _Index, lookup: Lookup, budget: int | None) -> bool:
    """Read the portal's engagements into `index`; False when stopped at `budget` pages with
    more to come."""
    for results, more in pages(client, SCAN_PATH, {"limit": SCAN_LIMIT}, max_pages=None):
        lookup.requests += 1
        index.add_all(results)
        if more and budget is not None and lookup.requests >= budget:
            return False
    return True


def _match_all(index: _Index, pending: dict[str, dict[str, Any]], lookup: Lookup) -> list[str]:
    unmatched = []
    for ext, body in pending.items():
        if ext in lookup.found:
            continue
        found = index.match(body)
        if found is None:
            unmatched.append(ext)
        else:
            lookup.found[ext] = found
    return unmatched


def _first_contact(body: dict[str, Any]) -> int | None:
    ids = body.get("associations", {}).get("contactIds") or []
    return ids[0] if ids else None
