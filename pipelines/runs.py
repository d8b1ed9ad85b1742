"""The `runs` table: one row per stage/push/sync/backfill/retry/purge run, with its summary.

Written at the end of the run (also when it fails), so `SELECT * FROM engagements.runs` shows
what every scheduled run did. A run that could not take the lock is not recorded: it never ran.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from destinations.engagements.redact import redact
from destinations.engagements.staging_db import check_writable, opened, problem
from pipelines.lock import run_lock
from pipelines.meta import ensure_schema
from sources.errors import StagingLockedError, StopRunError


@dataclass
class Run:
    command: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 0  # what the process exits with when the work returns (--fail-on-rejects)


@contextmanager
def recorded_run(staging: Path, command: str) -> Iterator[Run]:
    """Take the run lock, yield the Run, and record it in `runs` however it ends. A staging
    found locked, damaged or read-only on the way (also inside dlt) ends it with one line."""
    check_writable(staging)
    with run_lock(staging):
        run = Run(command)
        exit_code, error = 0, None
        try:
            yield run
            exit_code = run.exit_code
        except StagingLockedError:
            raise
        except StopRunError as exc:
            exit_code, error = exc.exit_code, str(exc)
            raise
        except Exception as exc:
            found = problem(staging, exc)
            if found is None:
                exit_code, error = 1, f"{type(exc).__name__}: {exc}"[:2000]
                raise
            exit_code, error = found.exit_code, str(found)
            raise found from None
        except BaseException as exc:
            exit_code, error = process_exit_code(exc), f"{type(exc).__name__}: {exc}"[:2000]
            raise
        finally:
            _record(staging, run, exit_code, redact(error))


def process_exit_code(exc: BaseException) -> int:
    """The code the process exits with for `exc`: a usage error's 2, typer.Exit's own, 130
    for Ctrl-C, else 1."""
    if isinstance(exc, KeyboardInterrupt):
        return 130
    code = getattr(exc, "exit_code", None)  # click/typer usage errors and Exit carry theirs
    return code if isinstance(code, int) else 1


def _record(staging: Path, run: Run, exit_code: int, error: str | None) -> None:
    try:
        with opened(staging) as con:
            ensure_schema(con, str(staging))
            con.execute(
                "INSERT INTO engagements.runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    run.run_id,
                    run.command,
                    run.started_at,
                    datetime.now(UTC),
                    exit_code,
                    error,
                    redact(json.dumps(run.summary, default=str)),
                ],
            )
    except StopRunError:
        pass  # the staging itself is the problem (locked, newer schema): nothing to record into
