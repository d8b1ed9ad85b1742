"""The recording relay: re-hosts a recording the v2 API cannot fetch by itself, just before the
send, and hands back a presigned https GET link to put in `media_url`.

Download with the source's credentials (download.py: allow-list, redirects checked by hand),
check the content type before writing anything, stream to the bucket through fsspec in blocks
(never the whole file in memory) under a name derived from external_id, then sign. An upload is
committed only once it is complete (an S3 multipart upload is invisible until then; a failed one
is aborted), so an object that exists is whole: a retry, or a run after a crash, finds it and
only signs it again. The rules (which media, which hosts, object names, expiry) are pure, in
sources/engagements/relay.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from destinations.engagements.download import DownloadPolicy, http_client, open_recording
from sources.engagements.media_url import check_media_url
from sources.engagements.relay import (
    RelaySettings,
    is_media_type,
    is_relayed,
    needs_relay,
    needs_resign,
    object_path,
)
from sources.engagements.wire import decode, encode
from sources.errors import RelayRejectError, StopRunError, TransientError

BLOCK_SIZE = 8 * 1024 * 1024  # bytes buffered before a part is uploaded (S3 parts are >= 5 MiB)
CHUNK_SIZE = 1024 * 1024
# How each backend takes the object's content type, so the API's fetch sees audio/* or video/*.
_CONTENT_TYPE_ARG = {"s3": "ContentType", "gs": "content_type", "gcs": "content_type"}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RelayConfig:
    """A job's relay with everything resolved: the authenticated bucket filesystem and the
    source's request headers (secrets: never printed)."""

    settings: RelaySettings
    filesystem: Any  # an authenticated fsspec filesystem
    bucket_path: str  # `bucket/prefix` as the filesystem names it
    source_headers: dict[str, str] = field(default_factory=dict)
    credentials_hint: str = "the source credentials"
    resolve: Callable[[str], Any] | None = None
    allow_loopback: bool = False  # testing switch

    def __repr__(self) -> str:
        return f"RelayConfig(job={self.settings.job!r}, url={self.settings.url!r})"


class Relay:
    """One job's relay, shared by the run's senders (fsspec and httpx clients are thread-safe)."""

    def __init__(self, config: RelayConfig) -> None:
        self.config, self.settings = config, config.settings
        self._fs = config.filesystem
        self._http = http_client()
        self._policy = DownloadPolicy(
            config.settings.hosts, config.credentials_hint, config.resolve, config.allow_loopback
        )

    def applies_to(self, source_url: str) -> bool:
        return needs_relay(source_url, bool(self.config.source_headers))

    def swap(
        self, external_id: str, body: str, source_url: str, resend: bool
    ) -> tuple[str, str | None]:
        """The bytes of a send with the relay's link as media_url, and a ledger note when a
        resend's recorded link was signed again. A first send of media the API can fetch by
        itself, and a resend whose link is still good, keep their bytes."""
        sent = decode(body)
        if resend:
            link = self.refreshed(external_id, str(sent["media_url"]), source_url)
            if link is None or link == sent["media_url"]:
                return body, None
            note = "relay: the recorded media_url link had expired or was about to; signed again"
        elif self.applies_to(source_url):
            link, note = self.media_url(external_id, source_url), None
        else:
            return body, None
        return encode({**sent, "media_url": link}).decode(), note

    def media_url(self, external_id: str, source_url: str) -> str:
        """A fresh presigned link to the record's object, uploading it first if it is missing."""
        path = object_path(self.config.bucket_path, external_id)
        if not self._exists(path):
            self._upload(path, source_url)
        return self._sign(path)

    def refreshed(self, external_id: str, recorded_url: str, source_url: str) -> str | None:
        """A new link for a resend whose recorded relay link has expired or is about to (None:
        the recorded bytes stand)."""
        if not is_relayed(recorded_url, external_id):
            return None
        if not needs_resign(recorded_url, _now(), self.settings.resign_margin):
            return None
        return self.media_url(external_id, source_url)

    def close(self) -> None:
        self._http.close()

    def _upload(self, path: str, source_url: str) -> None:
        headers = self.config.source_headers
        with open_recording(self._http, source_url, headers, self._policy) as response:
            content_type = response.headers.get("content-type")
            if not is_media_type(content_type):
                raise RelayRejectError(
                    "relay_not_media",
                    f"relay: the source served {content_type or 'no content type'}, not audio/* "
                    "or video/*; point the recording column at the media file",
                )
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > self.settings.max_bytes:
                raise self._too_large()
            self._write(path, str(content_type), _chunks(response))

    def _write(self, path: str, content_type: str, chunks: Iterator[bytes]) -> None:
        """Stream to the bucket; committed only when complete, discarded on any failure."""
        protocol = self.settings.url.split("://", 1)[0]
        extra = {_CONTENT_TYPE_ARG[protocol]: content_type} if protocol in _CONTENT_TYPE_ARG else {}
        with _bucket_errors(self.settings.url):
            handle = self._fs.open(path, "wb", autocommit=False, block_size=BLOCK_SIZE, **extra)
        try:
            size = 0
            for chunk in chunks:
                size += len(chunk)
                if size > self.settings.max_bytes:
                    raise self._too_large()
                with _bucket_errors(self.settings.url):
                    handle.write(chunk)
            with _bucket_errors(self.settings.url):
                handle.close()
                handle.commit()
        except BaseException:
            # Abort the upload; if even that fails, the unfinished upload stays invisible (and
            # the bucket's lifecycle rule removes it): the original error is what to report.
            with suppress(OSError):
                handle.discard()
            raise

    def _exists(self, path: str) -> bool:
        with _bucket_errors(self.settings.url):
            try:
                self._fs.invalidate_cache(path)
                return bool(self._fs.info(path).get("size"))
            except FileNotFoundError:
                return False

    def _sign(self, path: str) -> str:
        with _bucket_errors(self.settings.url):
            link = str(self._fs.sign(path, expiration=self.settings.url_lifetime))
        problem = check_media_url(link, None, self.config.allow_loopback)
        if problem is not None:
            raise StopRunError(
                f"relay {self.settings.url}: the signed links are not fetchable by the API "
                f"({problem.message}); give the bucket an https endpoint and run again"
            )
        return link

    def _too_large(self) -> RelayRejectError:
        mb = self.settings.max_bytes // (1024 * 1024)
        return RelayRejectError(
            "relay_too_large",
            f"relay: the recording is larger than relay_max_mb = {mb}; raise it for the job",
        )


def _chunks(response: httpx.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_bytes(CHUNK_SIZE)
    except httpx.TransportError as exc:
        raise TransientError(f"relay: the download broke off ({type(exc).__name__})") from None


# botocore / google-auth errors for missing credentials (not OSErrors, so matched by name).
_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError")


@contextmanager
def _bucket_errors(url: str) -> Iterator[None]:
    """Bucket failures by consequence: refused credentials or a missing bucket stop the run (one
    line saying what to fix); other IO errors are transient (the record stays pending)."""
    try:
        yield
    except (RelayRejectError, TransientError, StopRunError):
        raise
    except FileNotFoundError:
        raise StopRunError(
            f"relay {url}: the bucket does not exist or cannot be seen; create it or fix the "
            "job's relay URL, and run again"
        ) from None
    except Exception as exc:
        if isinstance(exc, PermissionError) or type(exc).__name__ in _NO_CREDENTIALS:
            raise StopRunError(
                f"relay {url}: the bucket refused the relay ({type(exc).__name__}); check "
                "[engagement_sync.relay.credentials] and the bucket policy (read, write and "
                "list on the prefix) and run again"
            ) from None
        if isinstance(exc, OSError | TimeoutError):
            raise TransientError(f"relay {url}: {type(exc).__name__}") from None
        raise
