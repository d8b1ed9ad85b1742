"""An authenticated fsspec filesystem for a bucket URL, resolved the dlt way; shared by the
recording relay and bucket stagings so both read credentials alike.

Credentials are dlt's filesystem credentials for the protocol (AwsCredentials, GcpCredentials,
AzureCredentials) under `[<sections>.credentials]`, e.g. `[engagement_sync.staging.credentials]`
or `ENGAGEMENT_SYNC__STAGING__CREDENTIALS__AWS_ACCESS_KEY_ID`. Without keys the cloud SDK's own
chain applies (instance role, workload identity, ~/.aws).
"""

from __future__ import annotations

from typing import Any

from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.configuration.specs.base_configuration import is_secret_hint
from dlt.common.exceptions import MissingDependencyException
from dlt.common.storages.configuration import FilesystemConfiguration
from dlt.common.storages.fsspec_filesystem import fsspec_from_config

from destinations.engagements.redact import register
from sources.errors import ConfigError

# SigV2 presigned links are deprecated on AWS; dlt leaves botocore's choice open.
_S3_CONFIG = {"signature_version": "s3v4"}
BUCKET_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss")


def is_bucket_url(value: str) -> bool:
    return value.split("://", 1)[0].lower() in BUCKET_SCHEMES and "://" in value


def bucket_filesystem(url: str, sections: tuple[str, ...], who: str, fix: str) -> tuple[Any, str]:
    """(filesystem, path of `url` in it); ConfigError naming `who` and `fix` when the extra is
    not installed or the configuration is incomplete."""
    try:
        config = resolve_configuration(FilesystemConfiguration(url), sections=sections)
        _register_secrets(config.credentials)
        if config.protocol == "s3":  # botocore Config, merged by dlt with its own
            kwargs = dict(config.kwargs or {})
            kwargs["config_kwargs"] = {**_S3_CONFIG, **kwargs.get("config_kwargs", {})}
            config.kwargs = kwargs
        return fsspec_from_config(config)
    except MissingDependencyException:
        extra = url.split("://", 1)[0].replace("gcs", "gs")
        raise ConfigError(
            f'{who} {url} needs the {extra} extra; pip install "engagement-sync[{extra}]"'
        ) from None
    except ConfigurationException as exc:
        raise ConfigError(
            f"{who} {url}: the bucket configuration is incomplete ({type(exc).__name__}); {fix}"
        ) from None


def _register_secrets(credentials: Any) -> None:
    """Every secret value of the bucket's credentials, for redaction (redact.py)."""
    if credentials is None or not hasattr(credentials, "get_resolvable_fields"):
        return
    for name, hint in credentials.get_resolvable_fields().items():
        if is_secret_hint(hint):
            value = getattr(credentials, name, None)
            register(value if isinstance(value, str) else None)
