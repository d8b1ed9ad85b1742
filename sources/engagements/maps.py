"""Contact and owner look-ups, as plain in-memory indexes (loading the CSVs is IO, done elsewhere).

Contact map CSV: `contact_id,email,phone` (email or phone may be empty). Phones are read by
the same function as export rows (phones.to_e164), so `+1 (415) 555-0101` in a map matches the
`+14155550101` of a record. Owner map CSV: `owner_id,email`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sources.engagements.phones import to_e164


class MapRowError(ValueError):
    """A map row that cannot be read; the message names its line (the header is line 1)."""


@dataclass(frozen=True)
class ContactIndex:
    by_email: Mapping[str, int] = field(default_factory=dict)
    by_phone: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_rows(
        cls, rows: Iterable[Mapping[str, str | None]], region: str | None = None
    ) -> ContactIndex:
        """The index of a contact map's rows; MapRowError names the first unreadable line."""
        by_email: dict[str, int] = {}
        by_phone: dict[str, int] = {}
        for line, row in enumerate(rows, start=2):
            contact_id = _whole_number(row.get("contact_id"), "contact_id", line)
            email = (row.get("email") or "").strip().lower()
            phone = (row.get("phone") or "").strip()
            if email:
                by_email.setdefault(email, contact_id)
            if phone:
                e164 = to_e164(phone, region)
                if e164 is None:
                    raise MapRowError(
                        f"line {line}: phone is not a phone number in E.164 (+14155550101) or of "
                        "the job's default_region; fix the number or set default_region"
                    )
                by_phone.setdefault(e164, contact_id)
        return cls(by_email, by_phone)

    def lookup(self, phones: Iterable[str | None], emails: Iterable[str | None]) -> list[int]:
        """Contact ids matching any of the phones (E.164) or emails, in first-seen order."""
        found: list[int] = []
        for phone in phones:
            if phone and phone in self.by_phone and self.by_phone[phone] not in found:
                found.append(self.by_phone[phone])
        for email in emails:
            key = (email or "").strip().lower()
            if key in self.by_email and self.by_email[key] not in found:
                found.append(self.by_email[key])
        return found


@dataclass(frozen=True)
class OwnerIndex:
    by_email: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, str | None]]) -> OwnerIndex:
        return cls(
            {
                (r.get("email") or "").strip().lower(): _whole_number(
                    r.get("owner_id"), "owner_id", i
                )
                for i, r in enumerate(rows, start=2)
                if r.get("email")
            }
        )

    def lookup(self, email: str | None) -> int | None:
        return self.by_email.get((email or "").strip().lower())


def _whole_number(value: str | None, name: str, line: int) -> int:
    text = str(value if value is not None else "").strip()
    try:
        return int(text)
    except ValueError:
        raise MapRowError(f"line {line}: {name} {text!r} is not a whole number") from None
