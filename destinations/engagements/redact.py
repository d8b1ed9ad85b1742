"""Secrets never echoed: every secret in use is registered here by value, and `redact` removes
each from any text before it is stored (runs.error, the ledger's error column) or printed (the
one-line error, a traceback, a log line).

Redacting by value, not by pattern, catches a token wherever a library put it: httpx quoting an
illegal header (`b'Bearer <token>'`), an exception repr, a URL. Variants are registered too (the
raw value with its whitespace, the stripped one) so a secret read with a trailing newline is
redacted in either form.
"""

from __future__ import annotations

import logging
import threading

MASK = "***"
MIN_LENGTH = 4  # shorter values would blank ordinary words; no real token is this short

_secrets: set[str] = set()
_guard = threading.Lock()


def register(value: str | None) -> None:
    """Remember a secret (and its stripped form and bytes-repr form) for every later redact."""
    if not value:
        return
    forms = {value, value.strip(), repr(value)[1:-1], repr(value.encode("utf-8", "replace"))[2:-1]}
    with _guard:
        _secrets.update(f for f in forms if len(f) >= MIN_LENGTH)


def redact(text: str | None) -> str | None:
    """`text` with every registered secret replaced by ***, longest first."""
    if not text or not _secrets:
        return text
    with _guard:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def redacted(text: str) -> str:
    """`redact` for text known to be present."""
    return redact(text) or ""


def install_log_redaction() -> None:
    """Redact every log record as it is made (message, arguments and traceback), whichever
    logger or handler later writes it: dlt's, httpx's, ours."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_redacting", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _secrets:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):  # a bad format: say it all, redacted, not raise
                message = f"{record.msg} {record.args!r}"
            record.msg, record.args = redacted(message), None
            if record.exc_info:
                text = logging.Formatter().formatException(record.exc_info)
                record.exc_value = record.exc_info[1]  # for filters; never formatted
                record.exc_text, record.exc_info = redacted(text), None
        return record

    factory._redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
