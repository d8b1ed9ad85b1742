"""Display helpers shared by the builders: titles, the other party, v2 participants."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import phonenumbers

from sources.engagements import rules
from sources.engagements.model import CanonicalRecord

E164 = re.compile(f"^{rules.E164_PATTERN}$")


def counterpart_phone(record: CanonicalRecord) -> str | None:
    """The other party's number: who was called on outbound calls, the caller otherwise."""
    if record.get("direction") == "outbound":
        return record.get("to_phone") or record.get("to_phone_raw")
    return record.get("from_phone") or record.get("from_phone_raw")


@lru_cache(maxsize=200_000)  # phonenumbers' parse + format is most of a title's cost
def display_phone(phone: str) -> str:
    """+14155552671 -> '+1 415 555 2671' (digits grouped the international way)."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return phone
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return formatted.replace("-", " ")


def title_for(record: CanonicalRecord) -> str:
    """The record's own title, or one made from what it says ('Outbound call to +1 415 ...')."""
    title = (record.get("title") or "").strip()
    if title:
        return title
    if record["kind"] == "meeting":
        return rules.MEETING_TITLE
    other = _counterpart_name(record) or (
        display_phone(p) if (p := counterpart_phone(record)) else None
    )
    return rules.call_title(record.get("direction"), other)


def _counterpart_name(record: CanonicalRecord) -> str | None:
    phone = counterpart_phone(record)
    for party in record.get("participants") or []:
        if party.get("name") and not party.get("is_owner") and party.get("phone") == phone:
            return party["name"]
    return None


def cut_on_word(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at the last word boundary when there is one."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    head = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return head.rstrip() + "…"


def v2_participants(record: CanonicalRecord, warnings: list[str]) -> list[dict[str, Any]]:
    """Participants in the seed's shape; non-E.164 phones left out (with a warning)."""
    owner_email = (record.get("owner_email") or "").strip().lower()
    out: list[dict[str, Any]] = []
    owner_taken = False
    for party in record.get("participants") or []:
        entry: dict[str, Any] = {}
        if party.get("name"):
            entry["name"] = party["name"]
        email = party.get("email")
        if email:
            entry["email"] = email
        phone = party.get("phone")
        if phone and E164.match(phone):
            entry["phone"] = phone
        elif phone:
            warnings.append("participant_phone_not_e164")
        if not entry:
            continue  # nothing the API could show: not a participant, never the owner
        is_owner = bool(party.get("is_owner")) or (email or "").lower() == owner_email != ""
        if is_owner and not owner_taken:
            entry["is_owner"] = True
            owner_taken = True
        out.append(entry)
    return out
