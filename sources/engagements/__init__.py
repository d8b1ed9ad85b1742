"""Pure code: the canonical call/meeting record and the v1 / v2 request builders.

Nothing here does IO, reads the clock or imports dlt or httpx: pass `now` in.
"""
