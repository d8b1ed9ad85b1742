"""A user's mistakes caught before a run starts, each as a one-line ConfigError (exit 2):
an unknown job or target for `status`, and dlt's missing-credentials errors for an export
bucket (hundreds of lines of config look-ups) turned into one line naming where they go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from destinations.engagements.staging_db import table_exists
from sources.errors import ConfigError, StopRunError

STATUS_TARGETS = ("v1", "v2")
_PROTOCOL_KEYS = {
    "s3": "aws_access_key_id, aws_secret_access_key (and region_name)",
    "gs": "project_id, client_email, private_key",
    "az": "azure_storage_account_name, azure_storage_account_key",
}
_PROTOCOL_ENV = {
    "s3": "AWS_ACCESS_KEY_ID",
    "gs": "CLIENT_EMAIL",
    "az": "AZURE_STORAGE_ACCOUNT_NAME",
}


def check_status_target(target: str | None) -> None:
    if target is not None and target not in STATUS_TARGETS:
        raise ConfigError(f"--target {target!r} is not a target; use --target v1 or --target v2")


def known_jobs(staging: Path) -> set[str]:
    """Jobs configured in .dlt/config.toml and jobs the staging has seen."""
    from pipelines.jobs import configured_jobs

    names = set(configured_jobs())
    if staging.exists():
        with duckdb.connect(str(staging), read_only=True) as con:
            if table_exists(con, "jobs"):
                names |= {r[0] for r in con.execute("SELECT job FROM engagements.jobs").fetchall()}
    return names


def check_job(staging: Path, job: str | None) -> None:
    if job is None:
        return
    names = known_jobs(staging)
    if job not in names:
        listed = ", ".join(sorted(names)) or "none yet"
        raise ConfigError(
            f"--job {job!r} is neither in .dlt/config.toml nor in {staging} (known jobs: "
            f"{listed}); pass one of them"
        )


def missing_bucket_credentials(exc: BaseException, url: str) -> ConfigError | None:
    """A ConfigError naming where an export bucket's credentials go, when `exc` is (or wraps)
    dlt's missing-credentials error for a bucket URL; None for anything else."""
    from dlt.common.configuration.exceptions import ConfigFieldMissingException

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ConfigFieldMissingException):
        cause = getattr(cause, "exception", None) or cause.__cause__ or cause.__context__
    protocol = url.split("://", 1)[0] if "://" in url else ""
    if cause is None or protocol not in _PROTOCOL_KEYS:
        return None
    return ConfigError(
        f"no credentials for the export bucket {url}; put {_PROTOCOL_KEYS[protocol]} under "
        "[sources.filesystem.credentials] in .dlt/secrets.toml (or env "
        f"SOURCES__FILESYSTEM__CREDENTIALS__{_PROTOCOL_ENV[protocol]}, …)"
    )


def left_pending(staging: Path) -> dict[str, Any]:
    """Per target, what a push would still send (pending + unknown), for the interrupt line."""
    from pipelines.status import status

    try:
        targets = status(staging)["targets"]
    except (StopRunError, duckdb.Error) as exc:  # the interrupt line says why it has none
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {t: int(v["pending"]) + int(v["unknown"]) for t, v in targets.items()}
