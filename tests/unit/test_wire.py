"""wire: one canonical encoding, a content hash without per-run options, the bytes of a send."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sources.engagements.builders import BuiltRequest, build_v2_request
from sources.engagements.settings import BuildSettings
from sources.engagements.wire import content_hash, decode, encode, with_send_options

BODY = {
    "type": "CALL",
    "title": "Café call ☎",
    "source_system": "twilio",
    "external_id": "twilio:CA1",
    "media_url": "https://media.example.com/1.mp3",
    "participants": [{"phone": "+14155552671", "name": "Ann"}, {"email": "b@example.com"}],
}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def reordered(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's keys in another insertion order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: reordered(v, rng) for k, v in items}
    if isinstance(value, list):
        return [reordered(v, rng) for v in value]
    return value


def test_encode_is_sorted_compact_utf8() -> None:
    data = encode({"b": 1, "a": {"d": [1, {"z": 1, "y": 2}], "c": "é"}})
    assert data == '{"a":{"c":"é","d":[1,{"y":2,"z":1}]},"b":1}'.encode()


@given(body=st.dictionaries(st.text(max_size=5), JSON, max_size=6), seed=st.integers())
def test_key_order_is_irrelevant(body: dict[str, Any], seed: int) -> None:
    other = reordered(body, random.Random(seed))
    assert encode(other) == encode(body)
    assert content_hash(other) == content_hash(body)
    assert decode(encode(body)) == body


def test_content_hash_is_sha256_of_the_encoding() -> None:
    assert content_hash(BODY) == hashlib.sha256(encode(BODY)).hexdigest()
    assert content_hash({**BODY, "title": "other"}) != content_hash(BODY)


@pytest.mark.parametrize("data", [b"[]", b"1", b'"x"', b"null"])
def test_decode_wants_an_object(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode(data)


@pytest.mark.parametrize("run_workflows", [True, False])
def test_with_send_options_adds_the_run_option(run_workflows: bool) -> None:
    before = json.dumps(BODY, sort_keys=True)
    sent = with_send_options(BODY, run_workflows=run_workflows)
    assert json.dumps(BODY, sort_keys=True) == before  # the staged body is not touched
    assert "run_workflows" not in BODY
    assert decode(sent) == {**BODY, "run_workflows": run_workflows}
    assert sent == encode({**BODY, "run_workflows": run_workflows})
    assert with_send_options(reordered(BODY, random.Random(1)), run_workflows=run_workflows) == sent


def test_with_send_options_without_options_is_the_staged_bytes() -> None:
    assert with_send_options(BODY) == encode(BODY)
    assert (
        decode(with_send_options({**BODY, "run_workflows": True}, run_workflows=False))[
            "run_workflows"
        ]
        is False
    )


def test_content_hash_ignores_run_workflows() -> None:
    """DESIGN invariant 3: the per-run option is decided at send time, outside the hash."""
    record = {
        "external_id": "twilio:CA1",
        "source_system": "twilio",
        "source_id": "CA1",
        "kind": "call",
        "started_at": datetime(2024, 4, 15, 14, tzinfo=UTC),
        "recording_url": "https://media.example.com/1.mp3",
    }
    built = build_v2_request(record, BuildSettings(source_system="twilio"))  # type: ignore[arg-type]
    assert isinstance(built, BuiltRequest)
    assert "run_workflows" not in built.body
    on, off = (with_send_options(built.body, run_workflows=v) for v in (True, False))
    assert on != off
    for sent in (on, off):
        staged = {k: v for k, v in decode(sent).items() if k != "run_workflows"}
        assert content_hash(staged) == built.content_hash
