"""Which record a sender thread is working on, for log lines that name it (a retry's target,
external id and cause): a context variable set around each record's delivery."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

current: ContextVar[tuple[str, str] | None] = ContextVar("sending", default=None)


@contextmanager
def sending(target: str, external_id: str) -> Iterator[None]:
    token = current.set((target, external_id))
    try:
        yield
    finally:
        current.reset(token)
