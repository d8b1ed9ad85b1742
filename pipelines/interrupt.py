"""Ctrl-C during a run: the first stops new sends, the second stops at once.

First SIGINT while a push is sending: every active Pusher stops taking new sends; the sends in
flight finish and their outcomes are written to the ledger; the push then stops with
RunInterrupted (exit 130) and the CLI prints what is left pending. With no push sending (staging,
looking things up) the first SIGINT is a plain KeyboardInterrupt: nothing is in flight.
Second SIGINT: the process exits 130 at once. Nothing is lost: a send in flight has an intent
and no outcome, which the ledger reads as `unknown`, and the next run looks it up (v1) or
resends the same bytes under the same external_id (v2) before anything else.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

from pipelines.output import error_object, json_line
from sources.errors import StopRunError

STOPPING = (
    "stopping: no new sends; the ones in flight finish and are recorded "
    "(Ctrl-C again to stop at once)"
)
ABORTED = (
    "interrupted twice: stopped at once; sends in flight have no outcome yet and are looked up "
    "before anything is resent; run again to resume"
)


class RunInterrupted(StopRunError):
    """Ctrl-C: the run stopped after its sends in flight finished; the rest stays pending."""

    exit_code = 130


_presses = 0
_json = False


def install(json_mode: bool = False) -> None:
    """Take over SIGINT for this process (the console entry point only: never in tests'
    own process). `json_mode`: a hard stop also writes its JSON object to stdout."""
    global _presses, _json
    _presses, _json = 0, json_mode
    # dlt would otherwise take SIGINT over during its load step and hold it back.
    os.environ.setdefault("RUNTIME__INTERCEPT_SIGNALS", "false")
    signal.signal(signal.SIGINT, _on_sigint)


def requested() -> bool:
    return _presses > 0


def check() -> None:
    """Between a run's steps: stop before starting another push once Ctrl-C was pressed."""
    if requested():
        raise RunInterrupted("interrupted before the next push; run again to resume")


def active_pushers() -> list[object]:
    from destinations.engagements import sink

    # No lock: the handler runs on the main thread, which may hold it (start_run).
    return list(sink.active_pushers())


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _presses
    _presses += 1
    if _presses >= 2:
        os.write(2, f"error: {ABORTED}\n".encode())
        if _json:
            os.write(1, (json_line(error_object(ABORTED, 130)) + "\n").encode())
        os._exit(130)
    pushers = active_pushers()
    if not pushers:
        raise KeyboardInterrupt
    os.write(2, f"{STOPPING}\n".encode())
    reason = RunInterrupted("interrupted: the sends in flight finished and were recorded")
    for pusher in pushers:
        pusher.stop_new_sends(reason)  # type: ignore[attr-defined]
