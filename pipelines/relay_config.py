"""Resolving a job's relay the dlt way: the bucket through dlt's filesystem configuration and the
source's credentials from `[sources.<preset>]`.

Bucket (any key of dlt's filesystem credentials for the protocol, e.g. AwsCredentials):
`[engagement_sync.relay.credentials]` in .dlt/secrets.toml or
`ENGAGEMENT_SYNC__RELAY__CREDENTIALS__AWS_ACCESS_KEY_ID`; a job may override any key under
`[engagement_sync.relay.<job>.credentials]`. Without keys, the cloud SDK's default chain applies
(instance role, workload identity, ~/.aws). Source: `[sources.twilio] account_sid, auth_token`
(Basic), `[sources.ringcentral] access_token`, `[sources.zoom] access_token` (Bearer), or
`SOURCES__TWILIO__AUTH_TOKEN` …; `[sources.<preset>.<job>]` overrides per job.
"""

from __future__ import annotations

import base64

from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.typing import TSecretStrValue

from destinations.engagements.redact import register
from destinations.engagements.relay import RelayConfig
from pipelines.buckets import bucket_filesystem
from pipelines.jobs import Job, allow_loopback_media, resolve_host
from sources.engagements.relay import SOURCE_AUTH, RelaySettings
from sources.errors import ConfigError


@configspec
class SourceCredentials(BaseConfiguration):
    """What a preset's recordings are downloaded with (SOURCE_AUTH says which keys)."""

    account_sid: str | None = None
    auth_token: TSecretStrValue | None = None
    access_token: TSecretStrValue | None = None


def relays_by_job(jobs: list[Job]) -> dict[str, RelaySettings]:
    """The relay settings of the jobs that have one and send to v2."""
    return {
        job.name: settings
        for job in jobs
        if (settings := job.relay_settings) is not None and "v2" in job.targets
    }


def resolve_relays(relays: dict[str, RelaySettings]) -> dict[str, RelayConfig]:
    return {job: resolve_relay(settings) for job, settings in relays.items()}


def resolve_relay(settings: RelaySettings) -> RelayConfig:
    """The job's relay with its bucket filesystem and source headers; ConfigError naming the
    key to fix."""
    headers, hint = source_headers(settings)
    filesystem, path = _bucket(settings)
    return RelayConfig(
        settings,
        filesystem,
        path,
        headers,
        hint,
        resolve=resolve_host,
        allow_loopback=allow_loopback_media(),
    )


def source_headers(settings: RelaySettings) -> tuple[dict[str, str], str]:
    """The Authorization header for the job's source (empty: download anonymously), and where
    its credentials are configured (for messages)."""
    auth = SOURCE_AUTH.get(settings.preset)
    if auth is None:
        return {}, "the recording links"
    section = f"[sources.{settings.preset}]"
    hint = f"{section} {' / '.join(auth.keys)}"
    creds = resolve_configuration(
        SourceCredentials(), sections=("sources", settings.preset, settings.job)
    )
    values = [getattr(creds, key) for key in auth.keys]
    for value in (creds.auth_token, creds.access_token):
        register(value)  # never echoed, whatever error or log line quotes it
    if not any(values):
        return {}, hint
    if not all(values):
        raise ConfigError(
            f"job {settings.job}: {section} needs {' and '.join(auth.keys)} together for the "
            "relay; set the missing one in .dlt/secrets.toml or the environment"
        )
    if auth.scheme == "basic":
        pair = base64.b64encode(f"{values[0]}:{values[1]}".encode()).decode()
        register(pair)
        return {"Authorization": f"Basic {pair}"}, hint
    return {"Authorization": f"Bearer {values[0]}"}, hint


def _bucket(settings: RelaySettings) -> tuple[object, str]:
    """An authenticated fsspec filesystem for the relay bucket, and the prefix's path in it."""
    return bucket_filesystem(
        settings.url,
        ("engagement_sync", "relay", settings.job),
        f"job {settings.job}: relay",
        "set [engagement_sync.relay.credentials] in .dlt/secrets.toml "
        "(see README, Recording relay)",
    )
