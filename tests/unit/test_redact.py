"""Secrets are redacted by value wherever they appear (redact.py)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from destinations.engagements import redact


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "_secrets", set())


TOKEN = "pat-na1-0b9c-7f3a"


@pytest.mark.parametrize(
    ("registered", "text", "expected"),
    [
        (TOKEN, f"401 for Bearer {TOKEN}", "401 for Bearer ***"),
        (f" {TOKEN}\n", f"Illegal header b'Bearer  {TOKEN}\\n'", "Illegal header b'Bearer ***'"),
        (f"{TOKEN}\n", f"Bearer {TOKEN}", "Bearer ***"),  # the stripped form too
        (TOKEN, "nothing secret here", "nothing secret here"),
        ("abc", "abc stays: too short to be a token", "abc stays: too short to be a token"),
        (TOKEN, f"{TOKEN}{TOKEN}", "******"),
    ],
)  # fmt: skip
def test_redact_by_value(registered: str, text: str, expected: str) -> None:
    redact.register(registered)
    assert redact.redact(text) == expected


@given(
    secret=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=4),
    before=st.text(),
    after=st.text(),
)
def test_a_registered_secret_never_survives(secret: str, before: str, after: str) -> None:
    redact._secrets = set()
    redact.register(secret)
    assert secret not in redact.redacted(before + secret + after)


def test_log_records_are_redacted_with_their_traceback(caplog: pytest.LogCaptureFixture) -> None:
    redact.register(TOKEN)
    redact.install_log_redaction()
    logger = logging.getLogger("engagement_sync.test_redact")
    try:
        raise RuntimeError(f"boom {TOKEN}")
    except RuntimeError:
        logger.exception("sending with %s", TOKEN)
    [record] = caplog.records
    text = caplog.handler.format(record)
    assert TOKEN not in text and "sending with ***" in text and "RuntimeError: boom ***" in text
