"""Shared parsing of presets: times (RFC 2822 / ISO 8601), phones (E.164), values, durations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sources.exports import common

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
UTC_TIMES = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31), timezones=st.just(UTC)
)
OFFSETS = st.integers(-14 * 60 + 1, 14 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


def strings(*values: str | None) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(list(values), pa.string())])


def rfc2822(moment: datetime) -> str:
    """English RFC 2822 whatever the locale (strftime's %a / %b follow the locale)."""
    offset = int(moment.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    sign, offset = ("-" if offset < 0 else "+"), abs(offset)
    return (
        f"{DAYS[moment.weekday()]}, {moment.day:02d} {MONTHS[moment.month - 1]} "
        f"{moment.year} {moment:%H:%M:%S} {sign}{offset // 60:02d}{offset % 60:02d}"
    )


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("Fri, 18 Oct 2019 17:02:00 +0000", datetime(2019, 10, 18, 17, 2, tzinfo=UTC)),
        ("Mon, 14 Feb 2022 22:23:00 +0100", datetime(2022, 2, 14, 21, 23, tzinfo=UTC)),
        ("Mon, 14 Feb 2022 22:23:00 -0530", datetime(2022, 2, 15, 3, 53, tzinfo=UTC)),
        ("Tue, 31 Dec 2024 23:30:00 -0100", datetime(2025, 1, 1, 0, 30, tzinfo=UTC)),
        ("2024-04-15T14:00:00Z", datetime(2024, 4, 15, 14, tzinfo=UTC)),
        ("2024-04-15T14:00:00+01:00", datetime(2024, 4, 15, 13, tzinfo=UTC)),
        ("2024-04-15T14:00:00-05:30", datetime(2024, 4, 15, 19, 30, tzinfo=UTC)),
        ("2024-04-15T14:00:00+0100", datetime(2024, 4, 15, 13, tzinfo=UTC)),
        ("2024-04-15T14:00:00.123Z", datetime(2024, 4, 15, 14, 0, 0, 123_000, tzinfo=UTC)),
        ("2024-04-15T14:00:00.5+02:00", datetime(2024, 4, 15, 12, 0, 0, 500_000, tzinfo=UTC)),
        ("2024-04-15 14:00:00Z", datetime(2024, 4, 15, 14, tzinfo=UTC)),
        ("2024-04-15T14:00Z", datetime(2024, 4, 15, 14, tzinfo=UTC)),
        ("rubbish", None),
        ("", None),
        (None, None),
        ("2024-04-15T14:00:00", None),  # no offset: the instant is unknown
        ("2024-04-15", None),
        ("2019-02-30T00:00:00Z", None),
        ("Fri, 18 Oct 2019 17:02:00", None),
        ("1713189600", None),
    ],
)
def test_parse_any_time(text: str | None, utc: datetime | None) -> None:
    (value,) = common.parse_any_time(strings(text)).to_pylist()
    assert value == utc


def test_parse_any_time_mixed_column_keeps_each_row() -> None:
    values = strings(
        "Fri, 18 Oct 2019 17:02:00 +0000",
        "2019-02-30T00:00:00Z",
        None,
        "2024-04-15T14:00:00Z",
        "nope",
    )
    parsed = common.parse_any_time(values)
    assert parsed.type == pa.timestamp("ms", tz="UTC")
    assert parsed.to_pylist() == [
        datetime(2019, 10, 18, 17, 2, tzinfo=UTC),
        None,
        None,
        datetime(2024, 4, 15, 14, tzinfo=UTC),
        None,
    ]


# Regression: more than 3 fraction digits or a lower-case 'z' gave null (bad_timestamp).
@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2024-04-15T14:00:00.123456Z", datetime(2024, 4, 15, 14, 0, 0, 123_000, tzinfo=UTC)),
        (
            "2024-04-15T14:00:00.123456789+02:00",
            datetime(2024, 4, 15, 12, 0, 0, 123_000, tzinfo=UTC),
        ),
        ("2024-04-15T14:00:00.000001+00:00", datetime(2024, 4, 15, 14, tzinfo=UTC)),
        ("2024-04-15T14:00:00z", datetime(2024, 4, 15, 14, tzinfo=UTC)),
    ],
)
def test_parse_iso_times_with_micro_or_nano_fractions(text: str, utc: datetime) -> None:
    (value,) = common.parse_iso_times(strings(text)).to_pylist()
    assert value == utc


def test_parse_times_with_other_formats() -> None:
    values = strings("15/04/2024 14:00 +0200", "Mon, 15 Apr 2024 14:00:00 +0000", "x")
    parsed = common.parse_times(values, ["%d/%m/%Y %H:%M %z", common.RFC2822])
    assert parsed.to_pylist() == [
        datetime(2024, 4, 15, 12, tzinfo=UTC),
        datetime(2024, 4, 15, 14, tzinfo=UTC),
        None,
    ]


@given(moment=UTC_TIMES, zone=OFFSETS)
def test_rfc2822_round_trip(moment: datetime, zone: timezone) -> None:
    local = moment.replace(microsecond=0).astimezone(zone)
    (value,) = common.parse_any_time(strings(rfc2822(local))).to_pylist()
    assert value == local


@given(
    moment=UTC_TIMES,
    zone=OFFSETS,
    zulu=st.booleans(),
    timespec=st.sampled_from(["seconds", "milliseconds", "microseconds"]),
)
def test_iso_round_trip_ms(moment: datetime, zone: timezone, zulu: bool, timespec: str) -> None:
    local = moment.astimezone(UTC if zulu else zone)
    text = local.isoformat(timespec=timespec).replace("+00:00", "Z" if zulu else "+00:00")
    (value,) = common.parse_any_time(strings(text)).to_pylist()
    expected = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value == expected.replace(microsecond=expected.microsecond // 1000 * 1000)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+14155552671", None, "+14155552671"),
        (" +14155552671 ", None, "+14155552671"),
        # Twilio's sample numbers: E.164-shaped but invalid (no NANP exchange starts with 1)
        ("+13051416799", None, None),
        ("12055550123", None, "+12055550123"),  # 11 NANP digits without the plus
        ("+44 20 7946 0958", None, "+442079460958"),
        ("+1 (415) 555-2671", None, "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("030 123456", "DE", "+4930123456"),
        ("(415) 555-2671", None, None),  # national number without a region
        ("020 7946 0958", "US", None),
        ("+1 415 555", None, None),
        ("client:alice", None, None),
        ("client:alice", "US", None),
        ("anonymous", "US", None),
        ("sip:alice@example.com", "US", None),
        ("", "US", None),
        ("   ", None, None),
        ("+", None, None),
        ("266696687", None, None),
    ],
)
def test_to_e164(raw: str, region: str | None, e164: str | None) -> None:
    assert common.to_e164(raw, region) == e164


@given(raw=st.text(max_size=40), region=st.sampled_from([None, "US", "GB", "DE", "ZZ", "xx"]))
def test_to_e164_never_raises(raw: str, region: str | None) -> None:
    result = common.to_e164(raw, region)
    assert result is None or E164.match(result)


def test_normalise_phones_keeps_order_nulls_and_duplicates() -> None:
    values = strings("(415) 555-2671", None, "+442079460958", "client:alice", "(415) 555-2671", "")
    assert common.normalise_phones(values, "US").to_pylist() == [
        "+14155552671",
        None,
        "+442079460958",
        None,
        "+14155552671",
        None,
    ]


def test_normalise_phones_all_null() -> None:
    assert common.normalise_phones(strings(None, None), "US").to_pylist() == [None, None]


@pytest.mark.parametrize(
    ("raw", "ms"),
    [
        ("4", 4000),
        (" 38 ", 38_000),
        ("0", 0),
        ("4.5", None),
        ("", None),
        (None, None),
        ("abc", None),
    ],
)
def test_seconds_to_ms(raw: str | None, ms: int | None) -> None:
    assert common.seconds_to_ms(strings(raw)).to_pylist() == [ms]


def test_map_values() -> None:
    table = {"completed": "completed", "no-answer": "no_answer"}
    values = strings("completed", "No-Answer", "COMPLETED", "ringing", None)
    assert common.map_values(values, table, "unknown").to_pylist() == [
        "completed",
        "no_answer",
        "completed",
        "unknown",
        None,
    ]


def test_column_picks_the_first_present_name_and_blanks_are_null() -> None:
    table = pa.table({"Sid": ["CA1", "  ", ""], "other": ["x", "y", "z"]})
    assert common.column(table, "sid", "Sid").to_pylist() == ["CA1", None, None]
    assert common.column(table, "missing").to_pylist() == [None, None, None]
