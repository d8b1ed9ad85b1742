"""One root exception for everything engagement-sync raises on purpose, grouped by what the
runtime must do: reject the record (and go on), retry later, or stop the run.

It lives in the pure layer that every other layer imports, so sources/, destinations/ and
pipelines/ raise the same classes. Record-level rejections by the API are not exceptions: they
are outcomes written to the ledger, and the run goes on (DESIGN invariant 4).
"""

from __future__ import annotations


class EngagementSyncError(Exception):
    """Root of every error engagement-sync raises on purpose."""


class RejectRecordError(EngagementSyncError):
    """This record (or file) cannot be taken; it is rejected with a reason and the run goes on."""


class StopRunError(EngagementSyncError):
    """A run-level problem: stop sending, keep every pending record pending, exit non-zero.

    The message is one line that says what happened and what to do.
    """

    exit_code = 1


class AuthError(StopRunError):
    """401/403: the token is missing, wrong or lacks a scope."""


class ScopeError(AuthError):
    """403: the token is valid but lacks the scope this call needs (e.g. a write-only key)."""


class DailyQuotaError(StopRunError):
    """HubSpot 429 with policyName DAILY: nothing more can be sent today."""


class ConfigError(StopRunError):
    """A missing or bad setting; the message names the key and the fix."""

    exit_code = 2


class StagingLockedError(StopRunError):
    """Another process holds the DuckDB staging file."""

    exit_code = 3


class StagingDamagedError(StopRunError):
    """The staging file is not a readable DuckDB database (corrupt block, truncated, junk).

    Exit 1, not 3: waiting does not help, so a scheduler must not retry it as if it were locked.
    """


class StagingReadOnlyError(StopRunError):
    """The staging file (or its folder) cannot be written: it can be read, not staged or pushed."""


class TransientError(EngagementSyncError):
    """Worth another try later: 5xx, 429, network trouble. `retry_after` in seconds if known."""

    def __init__(
        self, message: str, retry_after: float | None = None, maybe_sent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent  # the server may have acted on the request


class RelayRejectError(RejectRecordError):
    """The relay cannot re-host this record's recording (source refused, not media, too big,
    host not allowed): the record is rejected for v2 with `code` (reasons.py); the run goes on.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class UnreadableFileError(RejectRecordError, ValueError):
    """The file cannot be decoded as any supported format; the message says why."""


class MappingError(ConfigError, ValueError):
    """The mapping file is wrong; the message lists every problem and how to fix it."""
