"""The CLI's shared options, declared once (typer reads them from the signatures)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from destinations.engagements.staging_db import DEFAULT_STAGING
from sources.errors import ConfigError


def staging_option(ctx: typer.Context, param: typer.CallbackParam, value: str) -> Path:
    """--staging: a local file, or a bucket URL turned into the local working copy the command
    runs on (pipelines/bucket_staging.py); not given, `staging` of `[engagement_sync]` applies."""
    from pipelines import bucket_staging
    from pipelines.buckets import is_bucket_url

    source = ctx.get_parameter_source(str(param.name))
    if value == DEFAULT_STAGING and getattr(source, "name", "") == "DEFAULT":  # typer's click
        value = bucket_staging.configured_staging() or value
    if not is_bucket_url(value):
        return Path(value)
    try:
        return bucket_staging.working_copy(value, ctx.info_name in bucket_staging.READ_ONLY)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


Staging = Annotated[
    Path,
    typer.Option(
        "--staging",
        help="DuckDB staging file, or a bucket URL (s3://bucket/path/sync.duckdb).",
        parser=str,
        callback=staging_option,
    ),
]
DEFAULT = Path(DEFAULT_STAGING)
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
JobName = Annotated[str | None, typer.Option("--job", help="One job from .dlt/config.toml.")]
Target = Annotated[str, typer.Option(help="v1, v2 or all.")]
FailOnRejects = Annotated[
    bool, typer.Option("--fail-on-rejects", help="Exit 1 when this run rejected any record.")
]
ForceNewPrefix = Annotated[
    bool,
    typer.Option("--force-new-prefix", help="Accept a changed prefix (every record becomes new)."),
]
RunWorkflows = Annotated[
    bool | None,
    typer.Option(
        "--run-workflows/--no-run-workflows", help="v2: let workflows fire for new engagements."
    ),
]

# Job settings: each snake_case key of [engagement_sync.jobs.<name>] as --snake-case-key.
Preset = Annotated[str | None, typer.Option(help="Export format (twilio, aircall, zoom, …).")]
PathOpt = Annotated[
    str | None, typer.Option("--path", help="Folder, file, glob or bucket URL of the exports.")
]
FileGlob = Annotated[str | None, typer.Option(help="Glob inside --path (default **/*).")]
Prefix = Annotated[str | None, typer.Option(help="external_id prefix (default: the preset).")]
SourceSystem = Annotated[str | None, typer.Option(help="v2 source_system (default: preset).")]
ContactMap = Annotated[str | None, typer.Option(help="CSV contact_id,email,phone.")]
OwnerMap = Annotated[str | None, typer.Option(help="CSV owner_id,email.")]
Mapping = Annotated[str | None, typer.Option(help="TOML mapping file (generic preset).")]
Region = Annotated[str | None, typer.Option(help="Default phone region, e.g. US.")]
AllowUnassociated = Annotated[
    bool | None,
    typer.Option(
        "--allow-unassociated/--require-contact", help="v1: send records without a contact."
    ),
]
IsPrivate = Annotated[
    bool | None,
    typer.Option("--is-private/--not-private", help="v2 is_private (omitted when not given)."),
]
DispositionMap = Annotated[
    str | None, typer.Option(help="CSV disposition,guid: your portal's v1 call outcomes.")
]
ValidateDns = Annotated[
    bool | None,
    typer.Option("--validate-dns/--no-validate-dns", help="Resolve media_url hosts (all public)."),
]
Truncate = Annotated[
    bool | None,
    typer.Option(
        "--truncate-transcripts/--reject-long-transcripts", help="v2: cut over-long transcripts."
    ),
]

FollowSymlinks = Annotated[
    bool | None,
    typer.Option(
        "--follow-symlinks/--no-follow-symlinks",
        help="Follow symbolic links that stay inside --path (never outside it).",
    ),
]

Relay = Annotated[
    str | None, typer.Option(help="v2: bucket that re-hosts recordings (s3://, gs://, az://).")
]
RelayUrlLifetime = Annotated[int | None, typer.Option(help="Seconds a relay link is valid.")]
RelayHosts = Annotated[
    str | None, typer.Option(help="Comma-separated hosts the relay may download from.")
]
RelayMaxMb = Annotated[int | None, typer.Option(help="Largest recording the relay takes (MB).")]


def job_flags(arguments: dict[str, Any]) -> dict[str, Any]:
    """The job settings among a command's arguments that were given (None = not given)."""
    from pipelines.jobs import JOB_KEYS

    return {k: v for k, v in arguments.items() if k in JOB_KEYS and v is not None}


def targets(target: str) -> tuple[str, ...]:
    if target not in ("v1", "v2", "all"):
        raise typer.BadParameter("--target must be v1, v2 or all")
    return ("v1", "v2") if target == "all" else (target,)


def user_time(value: str | None, flag: str) -> datetime | None:
    """A date (YYYY-MM-DD), an ISO 8601 time (naive means UTC) or a window back from now
    (30m, 12h, 7d, 2w), as aware UTC (pipelines/when.py); a usage error otherwise."""
    from pipelines.when import WhenError, parse_when

    if value is None:
        return None
    try:
        return parse_when(value, datetime.now(UTC))
    except WhenError:
        raise typer.BadParameter(
            f"{flag} {value!r} is not a date (YYYY-MM-DD), an ISO time or a window such as 7d"
        ) from None


utc_date = user_time  # the earlier name
