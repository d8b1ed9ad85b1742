"""v2 create requests: the seed's `engagement_create_request` schema (seed 004) and field rules."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sources.engagements import wire
from sources.engagements.builders import BuiltRequest, Rejection, build_v2_request
from sources.engagements.model import make_external_id
from sources.engagements.reasons import REASONS
from sources.engagements.settings import BuildSettings

SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seeds" / "004_bffb7d0e6671bf22.txt"
SETTINGS = BuildSettings(source_system="twilio")
START = datetime(2024, 4, 15, 14, 0, tzinfo=UTC)
# RFC 3339 date-time: jsonschema only checks `date-time` with rfc3339-validator, not installed.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _seed_text() -> str:
    if not SEED.exists():
        pytest.skip("../shared/seeds not present (only CI and developers have it)")
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """The seed's request schema, closed: no property outside the schema is allowed."""
    block = re.search(r"```yaml\n(.*?)```", _seed_text(), re.S)
    assert block, "seed 004 has no ```yaml block"
    schemas = copy.deepcopy(yaml.safe_load(block.group(1))["components"]["schemas"])
    for name in ("engagement_create_request", "engagement_create_participant"):
        schemas[name]["additionalProperties"] = False
    root = {
        "$ref": "#/components/schemas/engagement_create_request",
        "components": {"schemas": schemas},
    }
    checker = jsonschema.FormatChecker()
    checker.checks("date-time")(_is_date_time)
    return jsonschema.Draft202012Validator(root, format_checker=checker)


@pytest.fixture(scope="module")
def seed_example() -> dict[str, Any]:
    """The seed's example create request (its JavaScript client example body)."""
    match = re.search(r"body: '(\{.*?\})'", _seed_text())
    assert match, "seed 004 has no example request body"
    return json.loads(match.group(1))


def call(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "external_id": "twilio:CA1",
        "source_system": "twilio",
        "source_id": "CA1",
        "kind": "call",
        "started_at": START,
        "direction": "outbound",
        "from_phone": "+14155550100",
        "to_phone": "+14155552671",
        "recording_url": "https://media.example.com/rec/CA1.mp3",
    }
    record.update(overrides)
    return record


def built(record: dict[str, Any], settings: BuildSettings = SETTINGS) -> BuiltRequest:
    result = build_v2_request(record, settings)  # type: ignore[arg-type]
    assert isinstance(result, BuiltRequest), result
    return result


def sendable(body: dict[str, Any], run_workflows: bool = True) -> dict[str, Any]:
    """What goes on the wire: the staged body plus the per-run option (wire.with_send_options)."""
    return json.loads(wire.with_send_options(body, run_workflows=run_workflows))


def test_schema_checks_formats(validator: jsonschema.Draft202012Validator) -> None:
    body = sendable(built(call()).body)
    validator.validate(body)
    assert not validator.is_valid({**body, "media_url": "not a uri"})
    assert not validator.is_valid({**body, "start_at": "2024-04-15 14:00"})
    assert not validator.is_valid({**body, "extra": 1})
    assert not validator.is_valid({k: v for k, v in body.items() if k != "run_workflows"})


def test_seed_example_request_field_by_field(
    validator: jsonschema.Draft202012Validator, seed_example: dict[str, Any]
) -> None:
    record = call(
        title=seed_example["title"],
        external_id=seed_example["external_id"],
        recording_url=seed_example["media_url"],
        started_at=None,
        from_phone=None,
        to_phone=None,
    )
    result = built(record, BuildSettings(source_system=seed_example["source_system"]))
    assert "run_workflows" not in result.body
    body = sendable(result.body, run_workflows=seed_example["run_workflows"])
    for key in ("type", "title", "source_system", "external_id", "media_url", "run_workflows"):
        assert body[key] == seed_example[key], key
    assert body == seed_example
    validator.validate(body)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"recording_url": None}, "no_media_url"),
        ({"recording_url": ""}, "no_media_url"),
        ({"recording_url": "http://media.example.com/rec/CA1.mp3"}, "media_url_not_https"),
        ({"recording_url": "https://10.0.0.1/rec.mp3"}, "media_url_private_host"),
        ({"recording_url": "https://user:pw@media.example.com/a.mp3"}, "media_url_userinfo"),
        ({"external_id": "twilio:" + "x" * 494}, "external_id_too_long"),
    ],
)
def test_rejections(overrides: dict[str, Any], reason: str) -> None:
    result = build_v2_request(call(**overrides), SETTINGS)  # type: ignore[arg-type]
    assert isinstance(result, Rejection)
    assert (result.target, result.reason) == ("v2", reason)
    assert reason in REASONS
    assert result.message


def test_external_id_at_limit_is_sent_whole() -> None:
    external_id = "twilio:" + "x" * 493
    assert len(external_id) == 500
    assert built(call(external_id=external_id)).body["external_id"] == external_id


@pytest.mark.parametrize(
    ("overrides", "title"),
    [
        ({}, "Outbound call to +1 415 555 2671"),
        (
            {"direction": "inbound", "from_phone": "+442079460958"},
            "Inbound call from +44 20 7946 0958",
        ),
        (
            {
                "direction": "inbound",
                "from_phone": "+442079460958",
                "participants": [
                    {"name": "Ann Caller", "phone": "+442079460958"},
                    {"name": "Rep", "phone": "+14155552671", "is_owner": True},
                ],
            },
            "Inbound call from Ann Caller",
        ),
        (
            {"direction": "outbound", "to_phone": None, "to_phone_raw": "5551234"},
            "Outbound call to 5551234",
        ),
        ({"direction": "internal"}, "Internal call"),
        ({"direction": None, "from_phone": None}, "Call"),
        ({"title": "  Renewal call  "}, "Renewal call"),
        ({"kind": "meeting", "title": None}, "Meeting"),
        ({"kind": "meeting", "title": "Weekly sync 週次"}, "Weekly sync 週次"),
    ],
)
def test_title(overrides: dict[str, Any], title: str) -> None:
    body = built(call(**overrides)).body
    assert body["title"] == title
    assert body["type"] == ("MEETING" if overrides.get("kind") == "meeting" else "CALL")


@pytest.mark.parametrize("words", ["word " * 200, "ünïcødé wörd " * 60, "a" * 30 + " " + "b" * 600])
def test_long_title_cut_on_word_boundary(words: str) -> None:
    title = built(call(title=words)).body["title"]
    assert len(title) <= 500
    head = title.removesuffix("…")
    assert head and words.startswith(head)
    assert words[len(head)] == " "


@pytest.mark.parametrize("is_private", [None, True, False])
def test_is_private_only_when_set(is_private: bool | None) -> None:
    body = built(call(), BuildSettings(source_system="twilio", is_private=is_private)).body
    if is_private is None:
        assert "is_private" not in body
    else:
        assert body["is_private"] is is_private


def test_participant_phone_not_e164_left_out_with_warning() -> None:
    result = built(
        call(
            participants=[
                {"name": "Ann", "phone": "(415) 555-2671"},
                {"phone": "client:alice"},
                {"name": "Bob", "phone": "+14155550100", "email": "bob@example.com"},
            ]
        )
    )
    assert result.body["participants"] == [
        {"name": "Ann"},
        {"name": "Bob", "phone": "+14155550100", "email": "bob@example.com"},
    ]
    assert "participant_phone_not_e164" in result.warnings


@pytest.mark.parametrize(
    ("owner_email", "flags"),
    [
        (None, [True, True, None]),
        ("c@example.com", [None, None, None]),
        ("C@Example.com", [True, False, False]),
    ],
)
def test_at_most_one_owner(owner_email: str | None, flags: list[bool | None]) -> None:
    parties = [
        {"name": n, "email": f"{n.lower()}@example.com", "is_owner": f}
        for n, f in zip("ABC", flags, strict=True)
    ]
    body = built(call(owner_email=owner_email, participants=parties)).body
    owners = [p for p in body["participants"] if p.get("is_owner")]
    assert len(owners) == 1
    assert all(p.get("is_owner", True) is True for p in body["participants"])


@pytest.mark.parametrize(
    ("transcript", "fits"),
    [
        pytest.param("a" * 900_000, True, id="ascii-900000-chars"),
        pytest.param("a" * 900_001, False, id="ascii-900001-chars"),
        pytest.param("語" * 316_666, True, id="cjk-949998-bytes"),
        pytest.param("語" * 316_667, False, id="cjk-950001-bytes"),
        pytest.param("🎧" * 237_500, True, id="emoji-950000-bytes"),
        pytest.param("🎧" * 237_501, False, id="emoji-950004-bytes"),
        pytest.param("a" * 899_990 + "🎧" * 10, True, id="mixed-900000-chars"),
        pytest.param("a" * 50_001 + "語" * 300_000, False, id="mixed-950001-bytes"),
    ],
)
@pytest.mark.parametrize("truncate", [False, True])
def test_transcript_limits(transcript: str, fits: bool, truncate: bool) -> None:
    settings = BuildSettings(source_system="twilio", truncate_transcripts=truncate)
    result = build_v2_request(call(transcript_text=transcript), settings)  # type: ignore[arg-type]
    if fits:
        assert isinstance(result, BuiltRequest)
        assert result.body["transcript_text"] == transcript
        assert "transcript_truncated" not in result.warnings
    elif not truncate:
        assert isinstance(result, Rejection)
        assert (result.target, result.reason) == ("v2", "transcript_too_long")
    else:
        assert isinstance(result, BuiltRequest)
        cut = result.body["transcript_text"]
        data = cut.encode("utf-8")
        assert len(cut) <= 900_000 and len(data) <= 950_000
        assert data.decode("utf-8") == cut and transcript.startswith(cut)
        assert len(data) > 950_000 - 4 or len(cut) == 900_000  # cut at the limit, not before
        assert "transcript_truncated" in result.warnings


@pytest.mark.parametrize(
    "started",
    [
        START,
        datetime(2024, 4, 15, 19, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2024, 4, 15, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_start_at_has_offset(started: datetime) -> None:
    start_at = built(call(started_at=started)).body["start_at"]
    assert _is_date_time(start_at)
    parsed = datetime.fromisoformat(start_at)
    assert parsed.utcoffset() is not None
    assert parsed == started


def test_no_start_no_start_at() -> None:
    assert "start_at" not in built(call(started_at=None)).body


@pytest.mark.parametrize(
    "url",
    [
        "https://media.example.com/録音/通話.mp3",
        "https://bücher.example/a.mp3",
        "https://media.example.com/a|b.mp3",
    ],
)
def test_media_url_is_a_uri_when_built(
    url: str, validator: jsonschema.Draft202012Validator
) -> None:
    result = build_v2_request(call(recording_url=url), SETTINGS)  # type: ignore[arg-type]
    if isinstance(result, BuiltRequest):
        validator.validate(sendable(result.body))


# --- properties --------------------------------------------------------------------------------

PHONES = st.sampled_from(
    [
        "+14155552671",
        "+442079460958",
        "+81312345678",
        "(415) 555-2671",
        "client:alice",
        "anonymous",
        "",
        "+1",
        "12",
    ]
)
URLS = st.sampled_from(
    [
        "https://media.example.com/rec/1.mp3",
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3",
        "https://bucket.s3.amazonaws.com/k.wav?X-Amz-Expires=600&X-Amz-Signature=ab12",
        "https://[2606:4700:4700::1111]/r.mp3",
        "https://cdn.example.com:443/v.mp4",
        "http://media.example.com/r.mp3",
        "https://127.0.0.1/r.mp3",
    ]
)
TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
TEXT = st.text(max_size=40)
PARTICIPANT = st.fixed_dictionaries(
    {},
    optional={
        "name": st.none() | TEXT,
        "email": st.none() | st.emails(),
        "phone": st.none() | PHONES,
        "is_owner": st.none() | st.booleans(),
    },
)


@st.composite
def records(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(prefix, canonical record) with any mix of optional fields."""
    prefix = draw(st.text(min_size=1, max_size=20))
    source_id = draw(st.text(min_size=1, max_size=40))
    record: dict[str, Any] = {
        "external_id": make_external_id(prefix, source_id),
        "source_system": "twilio",
        "source_id": source_id,
        "kind": draw(st.sampled_from(["call", "meeting"])),
        "recording_url": draw(st.one_of(URLS, URLS, st.none())),
    }
    optional = {
        "title": st.none() | st.text(max_size=700),
        "body": st.none() | TEXT,
        "started_at": st.none() | TIMES,
        "ended_at": st.none() | TIMES,
        "direction": st.sampled_from(["inbound", "outbound", "internal", "unknown", None]),
        "from_phone": st.none() | PHONES,
        "to_phone": st.none() | PHONES,
        "from_phone_raw": st.none() | PHONES,
        "to_phone_raw": st.none() | PHONES,
        "transcript_text": st.none() | TEXT,
        "owner_email": st.none() | st.emails(),
        "participants": st.none() | st.lists(PARTICIPANT, max_size=4),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            record[key] = draw(strategy)
    return prefix, record


SETTINGS_STRATEGY = st.builds(
    BuildSettings,
    source_system=st.text(min_size=1, max_size=120),
    is_private=st.none() | st.booleans(),
    truncate_transcripts=st.booleans(),
)


@hsettings(max_examples=150, deadline=None)
@given(case=records(), settings=SETTINGS_STRATEGY, run_workflows=st.booleans())
def test_every_built_body_fits_the_schema(
    validator: jsonschema.Draft202012Validator,
    case: tuple[str, dict[str, Any]],
    settings: BuildSettings,
    run_workflows: bool,
) -> None:
    prefix, record = case
    result = build_v2_request(record, settings)  # type: ignore[arg-type]
    again = build_v2_request(copy.deepcopy(record), settings)  # type: ignore[arg-type]
    assert result == again  # deterministic: same record, same request and hash
    event(type(result).__name__)
    if isinstance(result, Rejection):
        assert result.target == "v2" and result.reason in REASONS
        return
    assert "run_workflows" not in result.body
    assert result.content_hash == wire.content_hash(result.body)
    assert result.external_id == result.body["external_id"] == record["external_id"]
    assert result.external_id == f"{prefix}:{record['source_id']}"
    assert len(result.external_id) <= 500
    validator.validate(sendable(result.body, run_workflows))
    assert sum(1 for p in result.body.get("participants", []) if p.get("is_owner")) <= 1


def test_validate_dns_uses_the_injected_resolver() -> None:
    """validate_dns: a public-looking name that resolves to a private address is refused."""
    answers = {"media.example.com": ("93.184.216.34",), "sneaky.example.com": ("10.0.0.7",)}
    settings = BuildSettings(source_system="twilio", resolve=lambda host: answers[host])
    ok = build_v2_request(call(recording_url="https://media.example.com/a.mp3"), settings)
    bad = build_v2_request(call(recording_url="https://sneaky.example.com/a.mp3"), settings)
    assert isinstance(ok, BuiltRequest)
    assert isinstance(bad, Rejection) and bad.reason == "media_url_private_host"
    assert "resolves to 10.0.0.7" in bad.message
