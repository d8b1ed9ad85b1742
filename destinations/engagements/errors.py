"""The error classes, re-exported where they used to live: they are defined once, in
sources/errors.py (the one root, in the layer every other layer imports)."""

from sources.errors import (
    AuthError,
    ConfigError,
    DailyQuotaError,
    EngagementSyncError,
    RejectRecordError,
    RelayRejectError,
    StagingDamagedError,
    StagingLockedError,
    StagingReadOnlyError,
    StopRunError,
    TransientError,
)

__all__ = [
    "AuthError",
    "ConfigError",
    "DailyQuotaError",
    "EngagementSyncError",
    "RejectRecordError",
    "RelayRejectError",
    "StagingDamagedError",
    "StagingLockedError",
    "StagingReadOnlyError",
    "StopRunError",
    "TransientError",
]
