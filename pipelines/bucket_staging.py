"""Bucket stagings: `--staging s3://bucket/path/x.duckdb` (or `staging = "…"` in
`[engagement_sync]`) keeps the staging and its dlt state in a bucket, so they outlive the machine.

A command works on a local working copy under `.engagement-sync/remote/<hash of the URL>/` in
the working directory. A command that writes takes the staging's lease (pipelines/lease.py),
downloads the file and its `.engagement-sync/<name>/` state folder (kept in the bucket as
`.engagement-sync/<name>.tar`, one object), or nothing yet: a new staging,
runs, uploads both at the end, also after a failed run (the ledger is the truth), then releases
the lease; a long push uploads checkpoints meanwhile (pipelines/checkpoints.py). Read-only
commands download into a copy of their own and take no lease. The file is uploaded before the
state folder: a staging newer than its state only re-reads files, never skips one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import dlt
import duckdb

from pipelines.buckets import bucket_filesystem
from pipelines.checkpoints import Checkpointer
from pipelines.lease import DEFAULT_TTL, Holder, Lease, Renewer
from pipelines.workspace import pipelines_dir
from sources.errors import ConfigError, StagingLockedError, StopRunError

READ_ONLY = frozenset({"status", "explain", "sql", "report"})
SECTION = "engagement_sync"
CREDENTIALS = "[engagement_sync.staging.credentials]"
DEFAULTS = {"staging_lease_ttl": DEFAULT_TTL, "staging_checkpoint_seconds": 60.0}
CHECKPOINT_RECORDS = 1000
TAKEOVERS = "lease-takeovers.jsonl"

_working: dict[Path, str] = {}  # local working copy -> its bucket URL (filled by --staging)


def configured_staging() -> str | None:
    """`staging` of `[engagement_sync]`: the first provider (env, secrets, config) holding a
    string; `[engagement_sync.staging.credentials]` makes it a table in secrets.toml."""
    for provider in dlt.config.config_providers:
        value, _ = provider.get_value("staging", str, None, SECTION)
        if isinstance(value, str) and value:
            return value
    return None


def working_copy(url: str, read_only: bool, cwd: Path | None = None) -> Path:
    """The local path a command works on for the bucket staging `url` (registered here)."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    if not name.endswith(".duckdb"):
        raise ConfigError(f"--staging {url}: name the file, e.g. {url.rstrip('/')}/sync.duckdb")
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    copy = f"read-{os.getpid()}" if read_only else "work"
    path = (cwd or Path.cwd()).resolve() / ".engagement-sync" / "remote" / digest / copy / name
    _working[path] = url
    return path


def remote_of(staging: Path) -> str | None:
    return _working.get(staging)


class Remote:
    """The bucket side of a staging: the file, its WAL if one was left, its state folder."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.path = bucket_filesystem(
            url,
            (SECTION, "staging"),
            "staging",
            f"set its keys under {CREDENTIALS} in .dlt/secrets.toml (see README, Bucket stagings)",
        )
        parent, name = self.path.rsplit("/", 1)
        self.state = f"{parent}/.engagement-sync/{name}.tar"  # one object: whole or absent

    def lease(self, ttl: float) -> Lease:
        return Lease(self.fs, self.path + ".lease", self.url, ttl)

    def download(self, local: Path) -> bool:
        """Replace the working copy with the bucket's; False when the bucket has none yet."""
        shutil.rmtree(local.parent, ignore_errors=True)
        local.parent.mkdir(parents=True)
        self.fs.invalidate_cache()
        if not self.fs.exists(self.path):
            return False
        self.fs.get_file(self.path, str(local))
        if self.fs.exists(self.path + ".wal"):
            self.fs.get_file(self.path + ".wal", str(local) + ".wal")
        if self.fs.exists(self.state):
            archive = local.with_name(local.name + ".state.tar")
            self.fs.get_file(self.state, str(archive))
            with tarfile.open(archive) as tar:
                tar.extractall(Path(pipelines_dir(local)), filter="data")
            archive.unlink()
        return True

    def upload(self, local: Path) -> None:
        """The working copy's file (folded with its WAL when it can be), then its state."""
        if not local.exists():
            return
        try:
            with duckdb.connect(str(local)) as con:
                con.execute("CHECKPOINT")
        except duckdb.Error:
            pass  # upload what is there, WAL included: the next run replays it
        self.upload_file(local)
        wal = Path(str(local) + ".wal")
        if wal.exists():
            self.fs.put_file(str(wal), self.path + ".wal")
        elif self.fs.exists(self.path + ".wal"):
            self.fs.rm_file(self.path + ".wal")
        state = Path(pipelines_dir(local))
        if state.is_dir():  # as a tar: dlt needs its empty folders back, which S3 cannot hold
            archive = local.with_name(local.name + ".state.tar")
            with tarfile.open(archive, "w") as tar:
                tar.add(state, arcname=".", filter=_without_traces)
            self.fs.put_file(str(archive), self.state)
            archive.unlink()

    def upload_file(self, copy: Path) -> None:
        self.fs.put_file(str(copy), self.path)  # one PUT: the object is whole or absent


def _without_traces(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """dlt's last-run traces stay on the machine: they list resolved config values, and dlt
    counts only some credential keys as secret (an aws_access_key_id is kept in clear)."""
    return None if member.name.rsplit("/", 1)[-1] == "trace.pickle" else member


@contextmanager
def session(staging: Path, writes: bool) -> Iterator[None]:
    """Around a command on `staging`: nothing for a local file; for a working copy, download
    (and for a writing command: lease, checkpoints, upload, release)."""
    url = remote_of(staging)
    if url is None:
        yield
        return
    with bucket_errors(url):
        remote = Remote(url)
        lease = remote.lease(_setting("staging_lease_ttl")) if writes else None
        taken = lease.acquire() if lease else None
    if lease is None:
        try:
            with bucket_errors(url):
                remote.download(staging)
            yield
        finally:
            shutil.rmtree(staging.parent, ignore_errors=True)
        return
    if taken is not None:
        _warn(
            f"took over the expired lease of {url} held by {taken.describe()}: that run "
            "stopped without releasing it, and what it did after its last checkpoint is lost"
        )
    try:
        yield from _leased(remote, lease, staging, taken)
    finally:
        lease.release()


def _leased(remote: Remote, lease: Lease, staging: Path, taken: Holder | None) -> Iterator[None]:
    checkpoints = Checkpointer(
        staging,
        remote.upload_file,
        _setting("staging_checkpoint_seconds"),
        int(_setting("staging_checkpoint_records", CHECKPOINT_RECORDS)),
    )

    def lost() -> None:
        checkpoints.paused = True
        _warn(f"lost the lease of {remote.url} to another machine; this run uploads nothing")

    with Renewer(lease, lost):
        with bucket_errors(remote.url):
            remote.download(staging)
        if taken is not None:
            note_takeover(staging, taken)
        try:
            with checkpoints:
                yield
        finally:
            if lease.lost:
                raise StagingLockedError(
                    f"the staging {remote.url} was taken over by another machine while this "
                    f"run lasted; its results stay in {staging}, not uploaded"
                )
            try:
                with bucket_errors(remote.url):
                    remote.upload(staging)
            except BaseException:
                lease.abandon()  # the bucket lacks this run's work: let the lease expire
                raise


def note_takeover(staging: Path, taken: Holder) -> None:
    """Kept with the staging's state: a run died holding it, so the destinations may hold
    sends its last checkpoint does not show (v1 has no idempotency key: look them up)."""
    path = Path(pipelines_dir(staging)) / TAKEOVERS
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(asdict(taken)) + "\n")


def forget_takeovers(staging: Path) -> None:
    """After the v1 look-up a takeover owes: the destinations' side is known again."""
    (Path(pipelines_dir(staging)) / TAKEOVERS).unlink(missing_ok=True)


def takeovers(staging: Path) -> list[dict[str, Any]]:
    """The dead holders this staging's lease was taken over from (oldest first)."""
    path = Path(pipelines_dir(staging)) / TAKEOVERS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@contextmanager
def bucket_errors(url: str) -> Iterator[None]:
    """A bucket problem as one line naming where the credentials go, never a traceback."""
    try:
        yield
    except StopRunError:
        raise
    except FileNotFoundError as exc:
        raise ConfigError(
            f"staging {url}: the bucket does not exist ({_first_line(exc)}); create it or "
            "fix the URL"
        ) from None
    except PermissionError as exc:
        raise ConfigError(
            f"staging {url}: the bucket refused the credentials ({_first_line(exc)}); check "
            f"{CREDENTIALS} in .dlt/secrets.toml or ENGAGEMENT_SYNC__STAGING__CREDENTIALS__*"
        ) from None
    except Exception as exc:
        if type(exc).__name__ not in ("NoCredentialsError", "PartialCredentialsError"):
            if isinstance(exc, OSError):
                raise StopRunError(
                    f"staging {url}: the bucket cannot be reached ({_first_line(exc)}); "
                    "check the network or the endpoint and run again"
                ) from None
            raise
        raise ConfigError(
            f"staging {url}: no bucket credentials found; set aws_access_key_id and "
            f"aws_secret_access_key under {CREDENTIALS} in .dlt/secrets.toml, or "
            "ENGAGEMENT_SYNC__STAGING__CREDENTIALS__AWS_ACCESS_KEY_ID and …__AWS_SECRET_ACCESS_KEY"
        ) from None


def _setting(key: str, default: float | None = None) -> float:
    value: Any = dlt.config.get(f"{SECTION}.{key}")
    fallback = DEFAULTS.get(key, default or 0.0)
    if value is None:
        return fallback
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0:
        raise ConfigError(
            f"[{SECTION}] {key} = {value!r} is not a positive number; fix it or remove it "
            f"to use the default ({fallback:g})"
        )
    return number


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
