"""Both APIs at once: when v1 and v2 both have work, their pushes run side by side, one thread
each, each at its own limit (its own Pusher, gate, client and ledger connection), so a sync
takes about as long as its slowest target instead of the sum of both.

The run lock (pipelines/lock.py) is held once, by the process, around the whole run; the
threads share the staging file through their own DuckDB connections, of one database
instance (held open here), and staging_db.schema_lock keeps their schema changes and
checkpoints apart. A bucket staging pushes one target after
the other: its checkpoints copy the file through one ledger at a time.

Ctrl-C (interrupt.py) reaches every Pusher that is sending; one that registers after it is
stopped too (the main thread looks every 50 ms while it waits). The reports stay per
target, in target order; a target that fails does not stop the other mid-flight: the other
finishes, its report is kept, then the failure is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from pathlib import Path
from typing import Any

from destinations.engagements.staging_db import opened
from pipelines import interrupt
from pipelines.bucket_staging import remote_of

Report = dict[str, Any]


def push_targets(
    staging: Path, targets: tuple[str, ...], push_one: Callable[[str], Report], into: list[Report]
) -> None:
    """`push_one(target)` for each target, its report appended to `into` (a run's summary
    reads it even when a push fails)."""
    if len(targets) < 2 or remote_of(staging) is not None:
        for target in targets:
            interrupt.check()  # Ctrl-C during one target's push: the next one never starts
            into.append(push_one(target))
        return
    interrupt.check()
    # One connection held open meanwhile keeps the file's database instance alive: a thread
    # opening the file while the other closes the last connection to it would otherwise race
    # DuckDB's instance cache ("Unique file handle conflict ... already attached").
    with opened(staging), ThreadPoolExecutor(len(targets), thread_name_prefix="push") as pool:
        futures = [pool.submit(_started, push_one, t) for t in targets]
        _wait(futures)
    failures = [f.exception() for f in futures if f.exception() is not None]
    into.extend(f.result() for f in futures if f.exception() is None)
    if interrupt.requested():
        failures.append(_stopped())  # pressed when a push had nothing more to send: still 130
    if failures:
        raise _first(failures)


def _started(push_one: Callable[[str], Report], target: str) -> Report:
    interrupt.check()  # pressed while the other thread was getting ready
    return push_one(target)


def _wait(futures: list[Future[Report]]) -> None:
    """Wait for every push. After a Ctrl-C, every Pusher is told to stop taking new sends,
    also one that registers later (a thread still getting ready when it was pressed): the
    handler reaches only the Pushers registered at the time, and when there were none it
    raises KeyboardInterrupt here, in the main thread."""
    reason = _stopped()
    while not all(f.done() for f in futures):
        # KeyboardInterrupt: interrupt.requested() is now true, handled below; threads go on
        with suppress(KeyboardInterrupt):
            wait(futures, timeout=0.05)
        if interrupt.requested():
            for pusher in interrupt.active_pushers():
                pusher.stop_new_sends(reason)  # type: ignore[attr-defined]


def _stopped() -> interrupt.RunInterrupted:
    return interrupt.RunInterrupted("interrupted: the sends in flight finished and were recorded")


def _first(failures: list[BaseException | None]) -> BaseException:
    """The failure to report: an interruption first (exit 130), else the first one."""
    found = [f for f in failures if f is not None]
    return next((f for f in found if isinstance(f, interrupt.RunInterrupted)), found[0])
