"""The request rules, written once: what each target's words are, its limits, and the checks that
refuse a record (reason code, field, message), in the order they apply.

Both request paths read these tables: builders.py / titles.py apply them to one record in
Python, and rules_sql.py renders them into the SQL of vectorised.py (CASE expressions from the
dicts, limits and messages from the same constants). A target is one `TargetRules` value: adding
a target (HubSpot's CRM objects API, issue 14) means adding a table here, not another copy of
the rules. Pure: plain data and string formatting.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --- limits (API documents, or policy where reasons.py says so) -------------------------------
V1_BODY_LIMIT = 65_536
V2_TITLE_LIMIT = 500
V2_SOURCE_SYSTEM_LIMIT = 100
V2_EXTERNAL_ID_LIMIT = 500
V2_TRANSCRIPT_CHARS = 900_000
V2_TRANSCRIPT_BYTES = 950_000
MS_2000 = 946_684_800_000  # the first valid time (policy), Unix ms
MS_2100 = 4_102_444_800_000  # the first time past the valid range
MAX_DURATION_MS = 7 * 24 * 3_600_000  # a call or meeting longer than a week is a unit slip
E164_PATTERN = r"\+[1-9][0-9]{1,14}"  # the v2 participants' phone form


@dataclass(frozen=True)
class Table:
    """A mapping rule: our word -> the target's word; anything else -> `default`."""

    values: Mapping[str, str]
    default: str | None = None

    def get(self, key: str | None) -> str | None:
        return self.values.get(key or "", self.default)


@dataclass(frozen=True)
class Message:
    """A message template: `{name}` is a value of the record (checks.py `values`)."""

    template: str

    def text(self, values: Mapping[str, Any]) -> str:
        return self.template.format(**values)

    def parts(self) -> list[tuple[str, str | None]]:
        """(literal text, value name or None) pieces, for rendering the template in SQL."""
        return [(lit, name) for lit, name, _, _ in string.Formatter().parse(self.template)]


# --- the tests a check makes of one named value (None or missing values pass, but Absent) ----
@dataclass(frozen=True)
class Absent:
    """The value is missing (None; with `empty`, "" too)."""

    name: str
    empty: bool = False

    def fails(self, values: Mapping[str, Any]) -> bool:
        value = values.get(self.name)
        return value is None or (self.empty and value == "")


@dataclass(frozen=True)
class Outside:
    """The value is known and outside lo..hi (both included)."""

    name: str
    lo: int
    hi: int

    def fails(self, values: Mapping[str, Any]) -> bool:
        value = values.get(self.name)
        return value is not None and not self.lo <= value <= self.hi


@dataclass(frozen=True)
class Holds:
    """A condition the builder computed as a boolean value holds."""

    name: str

    def fails(self, values: Mapping[str, Any]) -> bool:
        return bool(values.get(self.name))


Test = Absent | Outside | Holds


@dataclass(frozen=True)
class Check:
    reason: str  # a code of reasons.REASONS
    field: str  # the field named in the rejection
    message: Message
    test: Test


def first_failed(checks: tuple[Check, ...], values: Mapping[str, Any]) -> Check | None:
    """The first check the record's values fail, in the table's order."""
    return next((c for c in checks if c.test.fails(values)), None)


_OUT_OF_RANGE = "is not a time between 2000 and 2100 in ms (policy)"


def _time_check(name: str, value: str) -> Check:
    message = Message(f"{name}={{{value}}} {_OUT_OF_RANGE}")
    return Check("timestamp_out_of_range", name, message, Outside(value, MS_2000, MS_2100 - 1))


@dataclass(frozen=True)
class TargetRules:
    """One target's request rules."""

    name: str
    engagement_type: Table  # record kind -> the target's type word
    call_status: Table = field(default_factory=lambda: Table({}))  # record status -> target's
    title_limit: int | None = None  # titles cut on a word to this many characters
    checks: tuple[Check, ...] = ()  # in order; the builders add the ones of their own data


ENGAGEMENT_TYPE = Table({"call": "CALL", "meeting": "MEETING"}, default="MEETING")

V1 = TargetRules(
    "v1",
    ENGAGEMENT_TYPE,
    call_status=Table(
        {
            "completed": "COMPLETED",
            "busy": "BUSY",
            "no_answer": "NO_ANSWER",
            "failed": "FAILED",
            "canceled": "CANCELED",
            "missed": "NO_ANSWER",
            "voicemail": "COMPLETED",
            "in_progress": "IN_PROGRESS",
        }
    ),
    checks=(
        Check(
            "bad_timestamp",
            "started_at",
            Message("the record has no start time"),
            Absent("start_ms"),
        ),
        _time_check("timestamp", "start_ms"),
        _time_check("endTime", "end_ms"),
        Check(
            "bad_duration",
            "duration_ms",
            Message(
                f"duration_ms={{duration_ms}} is not between 0 and {MAX_DURATION_MS} (7 days, "
                "policy); check the duration column's unit"
            ),
            Outside("duration_ms", 0, MAX_DURATION_MS),
        ),
        Check(
            "no_contact",
            "contact_ids",
            Message(
                "no contact matches the record's phones or emails; add it to the "
                "contact map or set allow_unassociated = true"
            ),
            Holds("unassociated"),
        ),
    ),
)

V2 = TargetRules(
    "v2",
    ENGAGEMENT_TYPE,
    title_limit=V2_TITLE_LIMIT,
    checks=(
        Check(
            "external_id_too_long",
            "external_id",
            Message(
                f"external_id has {{external_id_chars}} characters (limit {V2_EXTERNAL_ID_LIMIT})"
            ),
            Outside("external_id_chars", 0, V2_EXTERNAL_ID_LIMIT),
        ),
        # The targets agree on what time is valid: a start v1 refuses never reaches v2 either.
        _time_check("start_at", "start_ms"),
        Check(
            "no_media_url",
            "recording_url",
            Message("the record has no recording; v2 creates engagements from media"),
            Absent("recording_url", empty=True),
        ),
    ),
)

TARGETS: dict[str, TargetRules] = {t.name: t for t in (V1, V2)}

# --- titles: a record without its own title gets one from what it says ---------------------
MEETING_TITLE = "Meeting"
# direction -> (the title, the joiner before the other party's name or number, if it is shown)
CALL_TITLES: Mapping[str, tuple[str, str | None]] = {
    "outbound": ("Outbound call", " to "),
    "inbound": ("Inbound call", " from "),
    "internal": ("Internal call", None),
}
OTHER_CALL_TITLE: tuple[str, str | None] = ("Call", " with ")  # any other direction, or none


def call_title(direction: str | None, other: str | None) -> str:
    """`Outbound call to +1 415 …`, `Internal call`, `Call` … by CALL_TITLES."""
    title, joiner = CALL_TITLES.get(direction or "", OTHER_CALL_TITLE)
    return title + joiner + other if joiner and other else title


# --- v2 transcripts --------------------------------------------------------------------------
TRANSCRIPT_TOO_LONG = Message(
    "transcript has {chars} characters / {bytes} bytes "
    f"(limits {V2_TRANSCRIPT_CHARS:,} / {V2_TRANSCRIPT_BYTES:,}); "
    "set truncate_transcripts = true to cut it"
)
