"""Pure output helpers: JSON Lines, tables that never cut a figure, user-given times, retry
log fields."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from stamina.instrumentation import RetryDetails

from destinations.engagements.sending import sending
from pipelines.output import error_object, json_line, render_table
from pipelines.retries import retry_fields
from pipelines.runs import process_exit_code
from pipelines.when import WhenError, parse_when
from sources.errors import TransientError

COLUMNS = ["job", "files", "read", "staged", "folded", "rejected", "seconds"]
NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


@given(st.dictionaries(st.text(), st.one_of(st.text(), st.integers(), st.none())))
def test_a_json_line_is_one_line_that_parses_back(data: dict) -> None:
    line = json_line(data)
    assert "\n" not in line and json.loads(line) == data


@pytest.mark.parametrize(
    ("message", "error", "fix"),
    [
        ("v1: no API token; set X", "v1: no API token", "set X"),
        ("a; b; fix it", "a; b", "fix it"),
        ("no fix here", "no fix here", None),
    ],
)
def test_error_object_splits_what_from_the_fix(message: str, error: str, fix: str | None) -> None:
    assert error_object(message, 2) == {"error": error, "exit_code": 2, "fix": fix}


def render(width: int, terminal: bool, rows: list[list[object]]) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=terminal, color_system=None)
    render_table(console, "Stage", COLUMNS, rows)
    return out.getvalue()


@given(
    st.lists(st.integers(0, 10**12), min_size=5, max_size=5),
    st.floats(0, 1e6, allow_nan=False),
    st.sampled_from([30, 60, 80]),
    st.booleans(),
)
def test_a_table_never_cuts_a_figure(
    counts: list[int], seconds: float, width: int, terminal: bool
) -> None:
    row = ["calls", *counts, round(seconds, 2)]
    text = render(width, terminal, [row])
    line = next(li for li in text.splitlines() if "calls" in li)
    for value in row[1:]:
        assert str(value) in line.replace("│", " ").split()
    assert "…" not in text


def test_outside_a_terminal_headers_are_whole_and_in_a_terminal_abbreviated() -> None:
    row = ["calls", 10000, 10000, 9000, 500, 500, 124.25]
    assert render(40, False, [row]).splitlines()[1].split() == COLUMNS
    narrow = render(60, True, [row])
    assert "124.25" in narrow and "10000" in narrow and "rejected" not in narrow


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T10:00:00+02:00", datetime(2024, 1, 1, 8, tzinfo=UTC)),
        ("2024-01-01 10:00", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("2w", NOW - timedelta(weeks=2)),
        ("30m", NOW - timedelta(minutes=30)),
    ],
)
def test_user_given_times(value: str, expected: datetime) -> None:
    assert parse_when(value, NOW) == expected


@pytest.mark.parametrize("value", ["yesterday", "7x", "", "10:00", "2024-13-01", "P1D"])
def test_what_is_not_a_time_is_refused(value: str) -> None:
    with pytest.raises(WhenError):
        parse_when(value, NOW)


@given(st.integers(0, 10_000))
def test_a_window_of_days_goes_back_from_now(days: int) -> None:
    assert parse_when(f"{days}d", NOW) == NOW - timedelta(days=days)


def test_a_retry_line_names_the_record_and_its_cause() -> None:
    details = RetryDetails("<block>", (), {}, 2, 0.5, 0.5, TransientError("HTTP 429: slow down"))
    with sending("v1", "twilio:CA1"):
        fields = retry_fields(details)
    assert fields == {
        "target": "v1",
        "external_id": "twilio:CA1",
        "status": 429,
        "attempt": 2,
        "wait_s": 0.5,
        "cause": "HTTP 429: slow down",
    }


@pytest.mark.parametrize(
    ("exc", "code"),
    [(KeyboardInterrupt(), 130), (RuntimeError("x"), 1)],
)
def test_runs_records_the_code_the_process_exits_with(exc: BaseException, code: int) -> None:
    assert process_exit_code(exc) == code


def test_a_usage_error_inside_a_run_is_recorded_as_2() -> None:
    import typer

    assert process_exit_code(typer.BadParameter("--target must be v1, v2 or all")) == 2
    assert process_exit_code(typer.Exit(1)) == 1
