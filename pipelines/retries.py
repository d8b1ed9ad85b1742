"""Retries as one log line per record and cause: target, external id, status, attempt, wait.

stamina's own hook logs a bare `stamina.retry_scheduled` per retry with the callable's name,
which says nothing about the record; this hook names the record the sender thread is working
on (destinations/engagements/sending.py) and the HTTP status or network cause.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import stamina.instrumentation as instrumentation

from destinations.engagements.sending import current

log = logging.getLogger("engagement_sync.retry")
_STATUS = re.compile(r"\bHTTP (\d{3})\b")


def cause_of(exc: BaseException) -> tuple[int | None, str]:
    """(HTTP status if the message names one, the message) of what caused a retry."""
    message = str(exc)
    match = _STATUS.search(message)
    return (int(match.group(1)) if match else None), message


def retry_fields(details: Any) -> dict[str, Any]:
    """The fields of a retry's log line, from stamina's RetryDetails."""
    target, external_id = current.get() or (None, None)
    status, message = cause_of(details.caused_by)
    return {
        "target": target,
        "external_id": external_id,
        "status": status,
        "attempt": details.retry_num,
        "wait_s": round(details.wait_for, 2),
        "cause": message,
    }


def log_retry(details: Any) -> None:
    fields = retry_fields(details)
    log.info(
        f"retry {fields['target']} {fields['external_id']}: {fields['cause']} "
        f"(attempt {fields['attempt']}, waiting {fields['wait_s']} s)",
        extra=fields,
    )


def install_retry_log() -> None:
    """Replace stamina's default hooks (a bare line per retry) with `log_retry`."""
    instrumentation.set_on_retry_hooks([log_retry])
