"""The canonical record every preset maps to, and its Arrow schema.

One canonical record is one call or one meeting, whatever system exported it. The column names are
a public interface (DESIGN.md, "Canonical record columns"): data engineers query them in DuckDB.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

import pyarrow as pa
import pyarrow.compute as pc

Kind = Literal["call", "meeting"]
Direction = Literal["inbound", "outbound", "internal", "unknown"]

# The mapped status vocabulary (status_raw keeps the source's own word).
STATUSES = (
    "completed",
    "no_answer",
    "busy",
    "failed",
    "voicemail",
    "missed",
    "canceled",
    "in_progress",  # not over yet (a call still connected): a later export updates it
    "unknown",
)

PARTICIPANT_TYPE = pa.struct(
    [
        ("name", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("is_owner", pa.bool_()),
    ]
)

CANONICAL_SCHEMA = pa.schema(
    [
        pa.field("external_id", pa.string(), nullable=False),
        pa.field("source_system", pa.string(), nullable=False),
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        ("title", pa.string()),
        ("body", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("ended_at", pa.timestamp("us", tz="UTC")),
        ("duration_ms", pa.int64()),
        ("direction", pa.string()),
        ("status", pa.string()),
        ("disposition", pa.string()),
        ("from_phone", pa.string()),
        ("to_phone", pa.string()),
        ("status_raw", pa.string()),
        ("from_phone_raw", pa.string()),
        ("to_phone_raw", pa.string()),
        ("recording_url", pa.string()),
        ("transcript_text", pa.string()),
        ("owner_email", pa.string()),
        ("participants", pa.list_(PARTICIPANT_TYPE)),
        ("contact_ids", pa.list_(pa.int64())),
        ("company_ids", pa.list_(pa.int64())),
        ("deal_ids", pa.list_(pa.int64())),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("content_hash", pa.string()),
    ]
)
CANONICAL_COLUMNS = tuple(CANONICAL_SCHEMA.names)

# Columns that describe where a record came from, not what it says: left out of its content hash,
# so re-exporting the same call into another file does not count as a change.
PROVENANCE_COLUMNS = ("source_file", "source_row", "content_hash")


class Participant(TypedDict, total=False):
    name: str | None
    email: str | None
    phone: str | None
    is_owner: bool | None


class CanonicalRecord(TypedDict, total=False):
    """One row of CANONICAL_SCHEMA as Python values (timestamps as aware datetimes)."""

    external_id: str
    source_system: str
    source_id: str
    kind: Kind
    title: str | None
    body: str | None
    started_at: Any
    ended_at: Any
    duration_ms: int | None
    direction: Direction | None
    status: str | None
    disposition: str | None
    from_phone: str | None
    to_phone: str | None
    status_raw: str | None
    from_phone_raw: str | None
    to_phone_raw: str | None
    recording_url: str | None
    transcript_text: str | None
    owner_email: str | None
    participants: list[Participant] | None
    contact_ids: list[int] | None
    company_ids: list[int] | None
    deal_ids: list[int] | None
    source_file: str | None
    source_row: int | None
    content_hash: str | None


EXTERNAL_ID_SEPARATOR = ":"


def make_external_id(prefix: str, source_id: str) -> str:
    """`<prefix>:<source id>`: a pure function of the record, never of time or attempt."""
    return f"{prefix}{EXTERNAL_ID_SEPARATOR}{source_id}"


def external_ids(prefix: str, source_ids: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """make_external_id over a column (how presets key their records)."""
    return pc.binary_join_element_wise(prefix, source_ids, EXTERNAL_ID_SEPARATOR)


def source_ids_of(prefix: str, external: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """The source ids of external ids made with `prefix` (make_external_id undone)."""
    return pc.utf8_slice_codeunits(external, len(prefix) + len(EXTERNAL_ID_SEPARATOR))
