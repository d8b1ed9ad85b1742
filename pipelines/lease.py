"""The lease of a bucket staging: one machine at a time runs a command that writes it.

`<staging URL>.lease` holds JSON: host, pid, since, expires (UTC ISO times) and released. It is
taken by creating it with `If-None-Match: *`, and renewed, taken over (once expired) or released
with `If-Match: <the ETag last seen>`: of two machines racing for it exactly one wins, the other
gets 412 and reads it again. A thread renews it every third of its TTL while the run lasts; a
renewal refused means another machine took it over (this one stalled past the TTL): the lease
is `lost`, and the run must not upload over the other machine's work.

S3 (and S3-compatible stores) only: fsspec offers no conditional replace for gs:// and az://,
so there the lease is checked, then written (a race window of one round trip; untested here).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fsspec.asyn import sync

from sources.errors import StagingLockedError

DEFAULT_TTL = 15 * 60.0  # seconds
# 412 / 409 from a conditional write; NoSuchKey: an If-Match on a lease deleted meanwhile.
_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"}


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    since: str  # UTC ISO time the holder took the lease
    expires: str  # UTC ISO time
    released: bool = False

    def expired(self, now: datetime) -> bool:
        return datetime.fromisoformat(self.expires) <= now

    def describe(self) -> str:
        return f"{self.host} (PID {self.pid}) since {self.since}"


def parse_holder(body: bytes) -> Holder | None:
    """The holder a lease body names; None for a body that is not a lease (taken over)."""
    try:
        data = json.loads(body)
        return Holder(
            str(data["host"]),
            int(data["pid"]),
            str(data["since"]),
            str(data["expires"]),
            bool(data.get("released", False)),
        )
    except (ValueError, KeyError, TypeError):
        return None


class _S3Object:
    """Conditional reads and writes of one object through s3fs's botocore client."""

    def __init__(self, fs: Any, path: str) -> None:
        self._fs = fs
        self._bucket, self._key = path.split("/", 1)

    def read(self) -> tuple[str, bytes] | None:
        async def get() -> tuple[str, bytes]:
            answer = await self._fs._call_s3("get_object", Bucket=self._bucket, Key=self._key)
            return str(answer["ETag"]), await answer["Body"].read()

        try:
            return sync(self._fs.loop, get)
        except FileNotFoundError:
            return None

    def write(self, body: bytes, etag: str | None) -> str | None:
        """The new ETag, or None when the condition failed (another writer won)."""
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            answer = self._fs.call_s3(
                "put_object", Bucket=self._bucket, Key=self._key, Body=body, **condition
            )
        except OSError as exc:
            error = getattr(exc.__cause__, "response", {}).get("Error", {})
            if error.get("Code") in _LOST_RACE:
                return None
            raise
        return str(answer["ETag"])


class _PlainObject:
    """gs:// and az://: no conditional replace through fsspec; the body stands in for an ETag."""

    def __init__(self, fs: Any, path: str) -> None:
        self._fs, self._path = fs, path

    def read(self) -> tuple[str, bytes] | None:
        try:
            body = bytes(self._fs.cat_file(self._path))
        except FileNotFoundError:
            return None
        return body.decode(errors="replace"), body

    def write(self, body: bytes, etag: str | None) -> str | None:
        current = self.read()
        if (current[0] if current else None) != etag:
            return None
        self._fs.pipe_file(self._path, body)
        return body.decode()


class Lease:
    """The lease object beside a bucket staging; `acquire`, then `renew` on a thread, `release`."""

    def __init__(
        self,
        fs: Any,
        path: str,
        url: str,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._object = (
            _S3Object(fs, path) if fs.protocol[0] in ("s3", "s3a") else _PlainObject(fs, path)
        )
        self.url, self.ttl, self._clock = url, ttl, clock
        self._etag: str | None = None
        self._since = ""
        self.lost = False

    def acquire(self) -> Holder | None:
        """Take the lease; returns the holder of an expired lease taken over (the caller warns),
        None otherwise. StagingLockedError naming the holder while its lease is alive."""
        for _ in range(5):  # each round lost to another machine reads the lease again
            now = self._clock()
            current = self._object.read()
            holder = parse_holder(current[1]) if current else None
            if holder and not holder.released and not holder.expired(now):
                raise StagingLockedError(
                    f"the staging {self.url} is in use by {holder.describe()} (lease until "
                    f"{holder.expires}); wait for that run to finish, or, if that machine is "
                    "gone, run again once the lease has expired"
                )
            self._since = now.isoformat(timespec="seconds")
            if self._put(current[0] if current else None, now):
                return holder if holder and not holder.released else None
        raise StagingLockedError(f"the staging {self.url}: other machines keep taking its lease")

    def renew(self) -> bool:
        """Extend the lease; False (and `lost`) when another machine has taken it over."""
        if not self.lost and not self._put(self._etag, self._clock()):
            self.lost = True
        return not self.lost

    def release(self) -> None:
        if self._etag and not self.lost:
            self._put(self._etag, self._clock(), released=True)
            self._etag = None

    def abandon(self) -> None:
        """Leave the lease to expire instead of releasing it."""
        self._etag = None

    def _put(self, etag: str | None, now: datetime, released: bool = False) -> bool:
        holder = Holder(
            socket.gethostname(),
            os.getpid(),
            self._since,
            (now + timedelta(seconds=self.ttl)).isoformat(timespec="seconds"),
            released,
        )
        new = self._object.write(json.dumps(asdict(holder)).encode(), etag)
        if new is not None:
            self._etag = new
        return new is not None


class Renewer:
    """Renews a lease every third of its TTL until stopped; transient failures are retried."""

    def __init__(self, lease: Lease, on_lost: Callable[[], None]) -> None:
        self._lease, self._on_lost = lease, on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)

    def __enter__(self) -> Renewer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._lease.ttl / 3):
            try:
                if not self._lease.renew():
                    self._on_lost()
                    return
            except OSError:
                continue  # the bucket is unreachable for now; the next tick tries again
