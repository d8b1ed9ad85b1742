"""How a request body becomes bytes, and its content hash.

One encoding everywhere (sorted keys, compact) so that the same request always gives the same
bytes: the hash in the staging, the bytes recorded with a delivery intent and the bytes a resend
repeats are all derived from it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def encode(body: dict[str, Any]) -> bytes:
    """Canonical JSON bytes of a request body."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def decode(data: str | bytes) -> dict[str, Any]:
    value = orjson.loads(data)
    if not isinstance(value, dict):
        raise ValueError("a request body must be a JSON object")
    return value


def content_hash(body: dict[str, Any]) -> str:
    """sha256 of the canonical bytes. Per-run send options are not in `body`, so not in the hash."""
    return hashlib.sha256(encode(body)).hexdigest()


def with_send_options(body: dict[str, Any], **options: Any) -> bytes:
    """The exact bytes to send: the staged body plus this run's options (e.g. run_workflows)."""
    return encode({**body, **options})
