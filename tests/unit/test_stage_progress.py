"""Progress while staging (issue 17, point 6): the line's figures, and when it is shown."""

from __future__ import annotations

import io
import logging

import pytest

from pipelines.stage_progress import StageProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("reads", "elapsed", "expected"),
    [
        ([], 1.0, "stage calls: 0/4 files, 0 rows read (0 rows/s), 0.0/8.0 MB, ETA ?"),
        (
            [(1000, 2_000_000, 1)],
            2.0,
            "stage calls: 1/4 files, 1000 rows read (500 rows/s), 2.0/8.0 MB, ETA 6 s",
        ),
        (
            [(1000, 2_000_000, 1), (3000, 6_000_000, 3)],
            4.0,
            "stage calls: 4/4 files, 4000 rows read (1000 rows/s), 8.0/8.0 MB, ETA 0 s",
        ),
    ],
)
def test_the_line_says_files_rows_rate_and_eta(
    reads: list[tuple[int, int, int]], elapsed: float, expected: str
) -> None:
    clock = Clock()
    progress = StageProgress("calls", io.StringIO(), every_s=1e9, clock=clock)
    progress.begin(4, 8_000_000)
    for rows, nbytes, files in reads:
        progress.read(rows, nbytes, files)
    clock.now += elapsed
    assert progress.line() == expected


def test_outside_a_terminal_a_log_line_every_few_seconds(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = StageProgress("calls", io.StringIO(), clock=clock)  # StringIO: not a terminal
    assert progress.every_s == 5.0
    progress.begin(10, 10_000)
    with caplog.at_level(logging.INFO, logger="engagement_sync.progress"):
        for _ in range(10):
            clock.now += 1.0
            progress.read(100, 1000, 1)  # one line per 5 s of reading, not per read
        progress.close()
    lines = [r for r in caplog.records if r.name == "engagement_sync.progress"]
    assert len(lines) == 3  # at 5 s, at 10 s, and the last one on close
    assert [r.__dict__["rows"] for r in lines] == [500, 1000, 1000]
    assert lines[-1].__dict__["job"] == "calls" and "10/10 files" in lines[-1].getMessage()


def test_a_quick_stage_stays_quiet(caplog: pytest.LogCaptureFixture) -> None:
    progress = StageProgress("calls", io.StringIO(), clock=Clock())
    with caplog.at_level(logging.INFO, logger="engagement_sync.progress"):
        progress.begin(1, 10)
        progress.read(5, 10, 1)
        progress.close()
    assert not [r for r in caplog.records if r.name == "engagement_sync.progress"]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_live_line_redrawn() -> None:
    clock, out = Clock(), Tty()
    progress = StageProgress("calls", out, clock=clock)
    progress.begin(2, 2000)
    for _ in range(2):
        clock.now += 1.0
        progress.read(10, 1000, 1)
    progress.close()
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "2/2 files, 20 rows read" in text.rsplit("\r", 1)[1]
