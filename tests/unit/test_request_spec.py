"""One request specification (issue 13): the vectorised SQL and the per-row builders agree on
every record the SQL covers, over the whole value domain of every input field; the SQL emits
nothing for a record it does not cover, and those records are staged with the builders' bytes.

Runs 20 examples by default (a few seconds); ENGAGEMENT_SYNC_SPEC_EXAMPLES=2000 for a long run.
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sources.engagements import rules, vectorised
from sources.engagements.builders import Rejection, build_v1_request, build_v2_request
from sources.engagements.maps import ContactIndex, OwnerIndex
from sources.engagements.model import CANONICAL_SCHEMA, STATUSES, Direction
from sources.engagements.settings import HUBSPOT_DEFAULT_DISPOSITIONS, BuildSettings
from sources.engagements.wire import encode
from sources.exports.canonical import MappedRows
from sources.exports.outputs import _rows, build_outputs, record_hash

EXAMPLES = int(os.environ.get("ENGAGEMENT_SYNC_SPEC_EXAMPLES", "20"))
TARGETS = ("v1", "v2")
BUILD = {"v1": build_v1_request, "v2": build_v2_request}


def _at_ms(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def around(limit: int, char: str = "x") -> list[str]:
    """Strings one under, at and one over `limit` characters."""
    return [char * n for n in (limit - 1, limit, limit + 1)]


CONTROL = ["x\x00y", "x\x01y", "x\x08y", "x\x0by", "x\x1fy", "x\x7fy", "tab\tin", "a\nb", "\r\n"]
NON_ASCII = ["Zoë", "名前", "emoji 🎉", "\u00a0nbsp\u00a0", "\u2028sep", "e\u0301", "ﬀ"]
TEXT = st.one_of(
    st.sampled_from([None, "", " ", "Ann", " padded ", 'quote\'s "x"', "back\\slash"]),
    st.sampled_from(CONTROL + NON_ASCII),
    st.text(max_size=8),
)
TITLE = st.one_of(
    TEXT,
    st.sampled_from(around(rules.V2_TITLE_LIMIT) + around(rules.V2_TITLE_LIMIT, "é")),
    st.sampled_from(["word " * 100, " " + "w" * 499, "Weekly sync"]),
)
BODY = st.one_of(TEXT, st.sampled_from([*around(rules.V1_BODY_LIMIT), "é" * 65_537]))
TRANSCRIPT = st.one_of(
    TEXT,
    st.sampled_from(
        [
            *around(rules.V2_TRANSCRIPT_CHARS),
            "é" * (rules.V2_TRANSCRIPT_BYTES // 2),
            "é" * (rules.V2_TRANSCRIPT_BYTES // 2 + 1),
        ]
    ),
)
MS_EDGES = [rules.MS_2000 - 1, rules.MS_2000, rules.MS_2100 - 1, rules.MS_2100, -1, 0, 999]
TIME = st.one_of(
    st.none(),
    st.sampled_from([_at_ms(ms) for ms in MS_EDGES]),
    st.sampled_from(
        [
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC),
            datetime(2024, 3, 1, 9, 0, 0, 123_456, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        ]
    ),
    st.datetimes(datetime(1900, 1, 1), datetime(9999, 1, 1), timezones=st.just(UTC)),
    st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
)
DURATION = st.one_of(
    st.sampled_from([None, -1, 0, 1, rules.MAX_DURATION_MS, rules.MAX_DURATION_MS + 1]),
    st.integers(-(10**12), 10**12),
)
PHONE = st.sampled_from(
    [None, "", "+14155552671", "+442071838750", "+33142685300", "+1 (212) 555-0123",
     "2125550123", "+20123", "+0123456", "Anonymous", "client:alice", "+14155552671\n",
     " +14155552671", "+١٢٣٤٥٦٧", "+1٤١٥", "sip:x@y.z", "+1234567890123456"]
)  # fmt: skip
EMAIL = st.sampled_from(
    [None, "", "ann@example.com", "Bob@Example.com", " owner@x.io ", "Owner@x.io",
     "zoë@example.com", "x\x01@y.z", "ANN@EXAMPLE.COM"]
)  # fmt: skip
URL = st.sampled_from(
    [None, "", "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3",
     "https://media.example.com/a/b.mp3", "https://media.example.com",
     "http://media.example.com/a.mp3", "https://127.0.0.1/a.mp3", "https://10.0.0.1.nip.io/x",
     "https://intranet.local/x.mp3", "https://localhost/a.mp3", "https://zoom.us/rec/download/a",
     "https://platform.ringcentral.com/restapi/v1.0/account/~/recording/1/content",
     "https://s3.amazonaws.com/b/k.mp3?X-Amz-Date=20200101T000000Z&X-Amz-Expires=60",
     "https://MEDIA.example.com/Upper.mp3", "https://bücher.example/x.mp3",
     "https://example.com/a b.mp3", "https://example.com:8443/a.mp3", "https://u:p@example.com/a",
     "https://media\u200b.example.com/a.mp3", "ftp://example.com/a.mp3", "not a url"]
)  # fmt: skip
DISPOSITION = st.sampled_from(
    [None, "", *HUBSPOT_DEFAULT_DISPOSITIONS, "Left voicemail", "LEFT-VOICEMAIL", "Demo  booked",
     "unmapped thing", "f240bbac-87c9-4f6e-bf70-924b57d47db7",
     "F240BBAC-87C9-4F6E-BF70-924B57D47DB7", "f240bbac-87c9-4f6e-bf70-924b57d47db"]
)  # fmt: skip
STATUS = st.sampled_from([None, "", "x", *STATUSES])
DIRECTION = st.sampled_from([None, "", "sideways", *get_args(Direction)])
IDS = st.one_of(st.none(), st.lists(st.integers(1, 9), max_size=2))
PARTY = st.fixed_dictionaries(
    {"name": TEXT, "email": EMAIL, "phone": PHONE, "is_owner": st.sampled_from([None, True, False])}
)
# external_id lengths around the v2 limit (the row number keeps each id unique)
ID_LENGTHS = st.sampled_from(
    [8, *range(rules.V2_EXTERNAL_ID_LIMIT - 1, rules.V2_EXTERNAL_ID_LIMIT + 2)]
)


@st.composite
def rough_records(draw: Any) -> dict[str, Any]:
    """Any value of every field: many such records are outside what the SQL covers."""
    started = draw(TIME)
    end = st.just(started + timedelta(minutes=5)) if started and started.year < 9999 else TIME
    return {
        "external_id": draw(ID_LENGTHS),  # a length: made an id of it per row in `table`
        "source_system": "twilio",
        "source_id": draw(st.sampled_from(["CA1", "id:é", "x\x01"])),
        "kind": draw(st.sampled_from(["call", "call", "meeting"])),
        "title": draw(TITLE),
        "body": draw(BODY),
        "started_at": started,
        "ended_at": draw(st.one_of(st.none(), end, TIME)),
        "duration_ms": draw(DURATION),
        "direction": draw(DIRECTION),
        "status": draw(STATUS),
        "disposition": draw(DISPOSITION),
        "from_phone": draw(PHONE),
        "to_phone": draw(PHONE),
        "status_raw": draw(TEXT),
        "from_phone_raw": draw(PHONE),
        "to_phone_raw": draw(PHONE),
        "recording_url": draw(URL),
        "transcript_text": draw(TRANSCRIPT),
        "owner_email": draw(EMAIL),
        "participants": draw(st.one_of(st.none(), st.lists(PARTY, max_size=4))),
        "contact_ids": draw(IDS),
        "company_ids": draw(IDS),
        "deal_ids": draw(IDS),
        "source_file": "f.csv",
        "source_row": 1,
        "content_hash": None,
    }


# What the SQL covers, edges included: so that plain records, whose bytes are compared, are
# common (a record is plain only when every field is).
PLAIN_TEXT = st.sampled_from([None, "Ann", "Bob Smith", "Zoë Ng", "名前", "x\x01y", "🎉"])
PLAIN_TIME = st.one_of(
    st.sampled_from([_at_ms(ms) for ms in MS_EDGES if ms >= 0]),
    st.datetimes(datetime(1970, 1, 1), datetime(9999, 1, 1), timezones=st.just(UTC)),
    st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31), timezones=st.just(UTC)),
    st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31), timezones=st.just(UTC)),
)
PLAIN_PHONE = st.sampled_from([None, "+14155552671", "+442071838750", "2125550123", "+20123"])
PLAIN_PARTY = st.fixed_dictionaries(
    {
        "name": PLAIN_TEXT,
        "email": st.sampled_from([None, "", "ann@example.com", "Owner@x.io"]),
        "phone": st.sampled_from([None, "", "+14155552671", "Anonymous", "+0123", "+20123"]),
        "is_owner": st.sampled_from([None, True, False]),
    }
)
PLAIN = {
    "title": st.one_of(PLAIN_TEXT, st.sampled_from(["T" * (rules.V2_TITLE_LIMIT - 1), "T" * 500])),
    "body": st.one_of(PLAIN_TEXT, st.sampled_from(["", "b" * rules.V1_BODY_LIMIT])),
    "transcript_text": st.one_of(
        PLAIN_TEXT, st.sampled_from(["", "w" * rules.V2_TRANSCRIPT_CHARS])
    ),
    "started_at": PLAIN_TIME,
    "duration_ms": st.one_of(DURATION, st.integers(0, rules.MAX_DURATION_MS)),
    "ended_at": st.one_of(st.none(), PLAIN_TIME),
    "from_phone": PLAIN_PHONE,
    "to_phone": PLAIN_PHONE,
    "from_phone_raw": PLAIN_PHONE,
    "to_phone_raw": PLAIN_PHONE,
    "status_raw": PLAIN_TEXT,
    "recording_url": st.sampled_from(
        [
            None,
            "",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3",
            "https://m.example.com/a.wav",
            "https://intranet.local/x.mp3",
            "https://media.example.com",
        ]
    ),
    "owner_email": st.sampled_from([None, "", "owner@x.io", " Owner@X.io "]),
    "participants": st.one_of(st.none(), st.lists(PLAIN_PARTY, max_size=3)),
    "contact_ids": st.one_of(st.none(), st.lists(st.integers(1, 9), min_size=1, max_size=2)),
}


@st.composite
def records(draw: Any) -> dict[str, Any]:
    """Any record; every other one has the values the SQL covers in all but (sometimes) one
    field, so that both what it covers and where its cover ends are compared."""
    row = draw(rough_records())
    if draw(st.booleans()):
        keep_rough = draw(st.sampled_from([None, *PLAIN]))
        row.update({k: draw(v) for k, v in PLAIN.items() if k != keep_rough})
    return row


SETTINGS = [
    BuildSettings(source_system="twilio", allow_unassociated=True),
    BuildSettings(
        source_system="s" * (rules.V2_SOURCE_SYSTEM_LIMIT + 1),
        is_private=True,
        truncate_transcripts=True,
        owners=OwnerIndex.from_rows([{"owner_id": "7", "email": "Owner@x.io"}]),
        dispositions={"unmapped thing": "73a0d17f-1163-4015-bdd5-ec830791da20"},
    ),
    BuildSettings(
        source_system="zoë\x1f",
        is_private=False,
        contacts=ContactIndex.from_rows(
            [{"contact_id": "5", "email": "", "phone": "+14155552671"}]
        ),
        resolve=lambda host: ["10.1.1.1"] if host.startswith("api") else ["93.184.216.34"],
    ),
    BuildSettings(source_system="s" * rules.V2_SOURCE_SYSTEM_LIMIT, relay=True),
]


def table(rows: list[dict[str, Any]]) -> pa.Table:
    for i, row in enumerate(rows):
        head = f"p{i}:"
        row["external_id"] = head + "x" * max(1, row["external_id"] - len(head))
    return pa.Table.from_pylist(rows, CANONICAL_SCHEMA)


def per_row(row: dict[str, Any], settings_: BuildSettings, target: str) -> tuple:
    built = BUILD[target](row, settings_)  # type: ignore[arg-type]
    if isinstance(built, Rejection):
        return ("rejected", built.reason, built.field, built.message)
    return (
        "sent",
        encode(built.body).decode(),
        built.content_hash,
        ",".join(built.warnings) or None,
    )


def sql_outcomes(built: vectorised.Built, target: str) -> dict[str, tuple]:
    out = {
        r["external_id"]: ("sent", r["body"], r["content_hash"], r["warnings"])
        for r in built.requests[target].to_pylist()
    }
    for r in built.rejections.to_pylist():
        if r["target"] == target:
            out[r["external_id"]] = ("rejected", r["reason"], r["field"], r["message"])
    return out


def check_sql_matches_builders(rows: pa.Table, settings_: BuildSettings) -> int:
    """Every plain row: the SQL's outcome is the builders'; no other row has one. Returns how
    many rows were plain."""
    built = vectorised.build(rows, settings_, "job", TARGETS)
    python_rows = _rows(rows)
    plain = built.plain.to_pylist()
    for target in TARGETS:
        got = sql_outcomes(built, target)
        for row, is_plain in zip(python_rows, plain, strict=True):
            if is_plain:
                assert got.get(row["external_id"]) == per_row(row, settings_, target), (target, row)
            else:
                assert row["external_id"] not in got, (target, row)
    for row, is_plain, got in zip(python_rows, plain, built.record_hashes.to_pylist(), strict=True):
        assert got == (record_hash(row) if is_plain else None), row
    return sum(plain)


def check_staged_are_builders(rows: pa.Table, settings_: BuildSettings) -> None:
    """Whatever path built it, each staged request or rejection is the builders' own."""
    out = build_outputs(MappedRows(rows, read=rows.num_rows), settings_, "job", TARGETS)
    staged = {
        r["external_id"]: r for r in _rows(out.tables["calls"]) + _rows(out.tables["meetings"])
    }
    for target in TARGETS:
        got = {
            r["external_id"]: ("sent", r["body"], r["content_hash"], r["warnings"])
            for r in out.tables[f"{target}_requests"].to_pylist()
        }
        for r in out.tables["rejected_records"].to_pylist():
            if r["target"] == target:
                got[r["external_id"]] = ("rejected", r["reason"], r["field"], r["message"])
        for ext, row in staged.items():
            assert got.get(ext) == per_row(row, settings_, target), (target, row)
            content = {k: v for k, v in row.items() if k != "job"}  # job: added at staging
            assert row["content_hash"] == record_hash(content), row


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(records(), min_size=4, max_size=20), st.sampled_from(range(len(SETTINGS))))
def test_sql_and_builders_agree_over_every_value(rows: list[dict[str, Any]], which: int) -> None:
    data = table(rows)
    event("plain rows", str(check_sql_matches_builders(data, SETTINGS[which]) > 0))
    check_staged_are_builders(data, SETTINGS[which])


def _typical(
    i: int, kind: str, status: str | None, direction: str | None, disposition: str | None
) -> dict[str, Any]:
    return {
        "external_id": f"twilio:CA{i}", "source_system": "twilio", "source_id": f"CA{i}",
        "kind": kind, "status": status, "direction": direction, "disposition": disposition,
        "started_at": datetime(2024, 3, 1, 9, tzinfo=UTC), "duration_ms": 61_000,
        "from_phone": "+14155551001", "to_phone": "+12125554427", "contact_ids": [1],
        "recording_url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3",
    }  # fmt: skip


@pytest.mark.parametrize("which", [0, 1, 3])  # SETTINGS[2]'s source system is not plain
def test_every_status_direction_kind_and_disposition_is_covered_and_agrees(which: int) -> None:
    """The whole vocabulary, every combination once: each is plain (so the SQL's rules are
    compared, not skipped) and gets the builders' bytes. A status mapped differently in one
    path (say `canceled` -> COMPLETED in the SQL alone) fails here."""
    combos = itertools.product(
        ("call", "meeting"),
        (None, *STATUSES),
        (None, "", *get_args(Direction)),
        (None, "no_answer", "Left voicemail", "unmapped thing"),
    )
    rows = [_typical(i, *combo) for i, combo in enumerate(combos)]
    data = pa.Table.from_pylist(rows, CANONICAL_SCHEMA)
    assert check_sql_matches_builders(data, SETTINGS[which]) == len(rows)
