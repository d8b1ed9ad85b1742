"""The SQL request builders give builders.py's bytes for every row they cover (`plain`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources.engagements import vectorised
from sources.engagements.builders import Rejection, build_v1_request, build_v2_request
from sources.engagements.maps import ContactIndex, OwnerIndex
from sources.engagements.model import CANONICAL_SCHEMA
from sources.engagements.settings import BuildSettings
from sources.exports.outputs import _rows, record_hash

TEXT = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(["Ann", "Bob Smith", "Zoë", "名前", " padded ", "tab\tin", "a\nb", "x\x01y"]),
    st.text(max_size=12),
)
PHONE = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(
        ["+14155552671", "+442071838750", "+1 (212) 555-0123", "2125550123", "Anonymous",
         "client:alice", "+33 1 42 68 53 00", "+14155552671\n", "+١٢٣٤٥٦٧"]
    ),
)  # fmt: skip
EMAIL = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(["ann@example.com", "Bob@Example.com", " owner@x.io ", "zoë@example.com"]),
)
URL = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(
        [
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3",
            "https://media.example.com/a/b.mp3",
            "https://media.example.com",
            "http://media.example.com/a.mp3",
            "https://127.0.0.1/a.mp3",
            "https://10.0.0.1/x.wav",
            "https://intranet.local/x.mp3",
            "https://10.0.0.1.nip.io/x.mp3",
            "https://localhost/a.mp3",
            "https://platform.ringcentral.com/restapi/v1.0/account/~/recording/1/content",
            "https://zoom.us/rec/download/abc",
            "https://s3.amazonaws.com/b/k.mp3?X-Amz-Date=20200101T000000Z&X-Amz-Expires=60",
            "https://MEDIA.example.com/Upper.mp3",
            "https://bücher.example/x.mp3",
            "https://example.com/a b.mp3",
            "https://example.com:8443/a.mp3",
            # SSRF vectors (issue 12): the SQL's host verdict must be the per-row check's
            "https://7f000001.nip.io/a.mp3",
            "https://app-10-0-0-1.sslip.io/a.mp3",
            "https://kubernetes.default.svc/a.mp3",
            "https://metadata/a.mp3",
            "https://lvh.me/a.mp3",
            "https://xn--zzzz.example.com/a.mp3",
            "https://169.254.169.254\u00ad/latest/meta-data/",
            "https://media\u200b.example.com/a.mp3",
        ]
    ),
)
TIME = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(1960, 1, 1), max_value=datetime(2150, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from([datetime(2024, 3, 1, 9, 0, 0, tzinfo=UTC)]),
)
PARTY = st.fixed_dictionaries(
    {"name": TEXT, "email": EMAIL, "phone": PHONE, "is_owner": st.sampled_from([None, True, False])}
)


NICE_TEXT = st.one_of(st.none(), st.sampled_from(["Ann", "Bob Smith", "Zoë Ng", "名前", "x"]))
NICE_PHONE = st.one_of(
    st.none(), st.sampled_from(["+14155552671", "+442071838750", "+33142685300"])
)
NICE_URL = st.sampled_from(
    [
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3",
        "https://m.example.com/a.wav",
    ]
)
NICE_TIME = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
)
NICE_PARTY = st.fixed_dictionaries(
    {"name": NICE_TEXT, "email": st.sampled_from([None, "ann@example.com", "Owner@x.io"]),
     "phone": NICE_PHONE, "is_owner": st.sampled_from([None, True, False])}
)  # fmt: skip


@st.composite
def records(draw: Any) -> dict[str, Any]:
    """Mostly rows the SQL covers (so their bytes are compared), some that it must leave out."""
    row = draw(rough_records())
    if draw(st.booleans()):
        row.update(
            title=draw(st.one_of(st.none(), st.just("Weekly sync"))),
            body=draw(NICE_TEXT),
            started_at=draw(NICE_TIME),
            ended_at=draw(st.one_of(st.none(), NICE_TIME)),
            from_phone=draw(NICE_PHONE),
            to_phone=draw(NICE_PHONE),
            status_raw=draw(NICE_TEXT),
            recording_url=draw(NICE_URL),
            transcript_text=draw(NICE_TEXT),
            owner_email=draw(st.sampled_from([None, "owner@x.io", " Owner@X.io "])),
            participants=draw(st.one_of(st.none(), st.lists(NICE_PARTY, max_size=3))),
            source_id=draw(st.sampled_from(["CA1", "CA2"])),
        )
    return row


@st.composite
def rough_records(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["call", "call", "meeting"]))
    source_id = draw(st.sampled_from(["CA1", "x" * 600, "id:é"]))
    started = draw(TIME)
    return {
        "external_id": f"p:{source_id}",
        "source_system": "twilio",
        "source_id": source_id,
        "kind": kind,
        "title": draw(st.one_of(TEXT, st.just("T" * 600), st.just("Weekly sync"))),
        "body": draw(st.one_of(TEXT, st.just("b" * 70_000))),
        "started_at": started,
        "ended_at": draw(
            st.one_of(
                st.none(), st.just(started + timedelta(minutes=5)) if started else st.none(), TIME
            )
        ),
        "duration_ms": draw(st.one_of(st.none(), st.integers(0, 10**9))),
        "direction": draw(st.sampled_from([None, "inbound", "outbound", "internal", "unknown"])),
        "status": draw(
            st.sampled_from(
                [None, "completed", "busy", "no_answer", "voicemail", "in_progress", "x"]
            )
        ),
        "disposition": draw(
            st.sampled_from(
                [
                    None,
                    "",
                    "connected",
                    "Left voicemail",
                    "left-voicemail",
                    "Demo  booked",
                    "odd",
                    "f240bbac-87c9-4f6e-bf70-924b57d47db7",
                ]
            )
        ),
        "from_phone": draw(PHONE),
        "to_phone": draw(PHONE),
        "status_raw": draw(TEXT),
        "from_phone_raw": draw(PHONE),
        "to_phone_raw": draw(PHONE),
        "recording_url": draw(URL),
        "transcript_text": draw(st.one_of(TEXT, st.just("w " * 460_000))),
        "owner_email": draw(EMAIL),
        "participants": draw(st.one_of(st.none(), st.lists(PARTY, max_size=4))),
        "contact_ids": draw(st.one_of(st.none(), st.lists(st.integers(1, 9), max_size=2))),
        "company_ids": draw(st.one_of(st.none(), st.lists(st.integers(1, 9), max_size=2))),
        "deal_ids": draw(st.one_of(st.none(), st.lists(st.integers(1, 9), max_size=2))),
        "source_file": "f.csv",
        "source_row": 1,
        "content_hash": None,
    }


SETTINGS = [
    BuildSettings(source_system="twilio", allow_unassociated=True),
    BuildSettings(
        source_system="gong",
        is_private=True,
        owners=OwnerIndex.from_rows([{"owner_id": "7", "email": "Owner@x.io"}]),
        dispositions={
            "odd": "73a0d17f-1163-4015-bdd5-ec830791da20",
            "Demo booked": "a4c4c377-d246-4b32-a13b-75a56a4cd0ff",
        },
    ),
    BuildSettings(
        source_system="x",
        contacts=ContactIndex.from_rows(
            [{"contact_id": "5", "email": "", "phone": "+14155552671"}]
        ),
        resolve=lambda host: ["10.1.1.1"] if host.startswith("api") else ["93.184.216.34"],
    ),
]


def expected(row: dict[str, Any], settings_: BuildSettings, target: str) -> tuple:
    built = (build_v1_request if target == "v1" else build_v2_request)(row, settings_)
    if isinstance(built, Rejection):
        return ("rejected", built.reason, built.field, built.message)
    from sources.engagements.wire import encode

    return (
        "sent",
        encode(built.body).decode(),
        built.content_hash,
        ",".join(built.warnings) or None,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=25), st.sampled_from(range(len(SETTINGS))))
def test_plain_rows_get_the_bytes_builders_give(rows: list[dict[str, Any]], which: int) -> None:
    settings_ = SETTINGS[which]
    for i, row in enumerate(rows):  # one record per external_id, as presets stage them
        row["external_id"] = f"p{i}:{row['source_id']}"
    table = pa.Table.from_pylist(rows, CANONICAL_SCHEMA)
    built = vectorised.build(table, settings_, "job", ("v1", "v2"))
    python_rows = _rows(table)
    plain = built.plain.to_pylist()
    for target in ("v1", "v2"):
        sent = {r["external_id"]: r for r in built.requests[target].to_pylist()}
        refused = {
            r["external_id"]: r for r in built.rejections.to_pylist() if r["target"] == target
        }
        for row, is_plain in zip(python_rows, plain, strict=True):
            if not is_plain:
                continue
            want = expected(row, settings_, target)
            ext = row["external_id"]
            if want[0] == "rejected":
                got = refused.get(ext)
                assert got is not None, (target, want, row)
                assert (got["reason"], got["field"], got["message"]) == want[1:], row
            else:
                got = sent.get(ext)
                assert got is not None, (target, want, refused.get(ext), row)
                assert (got["body"], got["content_hash"], got["warnings"]) == want[1:], row
    for row, is_plain, got in zip(python_rows, plain, built.record_hashes.to_pylist(), strict=True):
        if is_plain:
            assert got == record_hash(row), row


def test_the_sql_refuses_internal_names_as_builders_do() -> None:
    """A plain row whose host is internal by name gets the per-row check's rejection."""
    rows = [
        {"external_id": f"p:{i}", "source_system": "twilio", "source_id": str(i), "kind": "call",
         "started_at": datetime(2024, 3, 1, tzinfo=UTC), "recording_url": url}
        for i, url in enumerate(["https://7f000001.nip.io/a.mp3", "https://files.corp/a.mp3"])
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows, CANONICAL_SCHEMA)
    built = vectorised.build(table, SETTINGS[0], "job", ("v2",))
    assert built.plain.to_pylist() == [True, True]
    assert built.requests["v2"].num_rows == 0
    reasons = [r["reason"] for r in built.rejections.to_pylist()]
    assert reasons == ["media_url_internal_name"] * 2
    for row in _rows(table):
        assert expected(row, SETTINGS[0], "v2")[1] == "media_url_internal_name"


def test_typical_call_rows_are_plain() -> None:
    """The SQL covers the common case, so the test above is not vacuous."""
    row = {
        "external_id": "twilio:CA1",
        "source_system": "twilio",
        "source_id": "CA1",
        "kind": "call",
        "started_at": datetime(2024, 3, 1, 9, 0, 0, 123000, tzinfo=UTC),
        "direction": "outbound",
        "status": "completed",
        "from_phone": "+14155551001",
        "to_phone": "+12125554427",
        "recording_url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3",
        "participants": [{"name": "Doe, Jane", "phone": "+14155551001"}, {"phone": "Anonymous"}],
    }
    table = pa.Table.from_pylist([row], CANONICAL_SCHEMA)
    built = vectorised.build(table, SETTINGS[0], "job", ("v1", "v2"))
    assert built.plain.to_pylist() == [True]
    assert built.requests["v2"].num_rows == 1
    row = _rows(table)[0]
    assert built.requests["v2"]["body"][0].as_py() == expected(row, SETTINGS[0], "v2")[1]
