"""Contact and owner look-ups, as plain in-memory indexes (loading the CSVs is IO, done elsewhere).

Contact map CSV: `contact_id,email,phone` (email or phone may be empty; phone in E.164).
Owner map CSV: `owner_id,email`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContactIndex:
    by_email: Mapping[str, int] = field(default_factory=dict)
    by_phone: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, str | None]]) -> ContactIndex:
        by_email: dict[str, int] = {}
        by_phone: dict[str, int] = {}
        for row in rows:
            contact_id = int(str(row["contact_id"]).strip())
            email = (row.get("email") or "").strip().lower()
            phone = (row.get("phone") or "").strip()
            if email:
                by_email.setdefault(email, contact_id)
            if phone:
                by_phone.setdefault(phone, contact_id)
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
                (r.get("email") or "").strip().lower(): int(str(r["owner_id"]).strip())
                for r in rows
                if r.get("email")
            }
        )

    def lookup(self, email: str | None) -> int | None:
        return self.by_email.get((email or "").strip().lower())
