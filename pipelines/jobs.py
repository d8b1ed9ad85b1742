"""Jobs: what to read and how to build requests, from `[engagement_sync.jobs.<name>]` or flags.

Every job setting `snake_case_key` is also the CLI flag `--snake-case-key`. An unknown key or a
bad value stops with a message naming the key and the fix (ConfigError, exit code 2).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import dlt

from sources.engagements.maps import ContactIndex, MapRowError, OwnerIndex
from sources.engagements.phones import valid_region
from sources.engagements.relay import (
    DEFAULT_MAX_MB,
    DEFAULT_URL_LIFETIME,
    RelaySettings,
    default_hosts,
    settings_problem,
)
from sources.engagements.settings import (
    HUBSPOT_DEFAULT_DISPOSITIONS,
    BuildSettings,
    disposition_key,
)
from sources.errors import ConfigError
from sources.exports.mapping import MappingError, parse_mapping
from sources.exports.presets import PRESET_NAMES
from sources.exports.source import ExportJob

_GLOB = re.compile(r"[*?\[]")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
TARGETS = ("v1", "v2")
T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    name: str
    preset: str
    path: str
    file_glob: str | None = None
    prefix: str | None = None  # external_id prefix; default the preset name
    source_system: str | None = None  # v2 source_system; default the preset name
    targets: tuple[str, ...] = TARGETS
    run_workflows: bool = True
    is_private: bool | None = None
    contact_map: str | None = None
    owner_map: str | None = None
    default_region: str | None = None
    allow_unassociated: bool = False
    truncate_transcripts: bool = False
    mapping: str | None = None  # generic preset: the TOML mapping file
    validate_dns: bool = False  # resolve media_url hosts; every address must be public
    disposition_map: str | None = None  # CSV disposition,guid: v1 call outcomes of the portal
    # The recording relay (v2): a bucket URL that re-hosts media the API cannot fetch itself.
    relay: str | None = None
    relay_url_lifetime: int = DEFAULT_URL_LIFETIME  # seconds a presigned link is valid
    relay_hosts: tuple[str, ...] | None = None  # download allow-list; default the preset's
    relay_max_mb: int = DEFAULT_MAX_MB
    # local folders: follow symbolic links whose target stays inside the job's folder
    follow_symlinks: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def external_id_prefix(self) -> str:
        return self.prefix or self.preset

    @property
    def relay_settings(self) -> RelaySettings | None:
        if self.relay is None:
            return None
        return RelaySettings(
            self.name,
            self.preset,
            self.relay,
            self.relay_url_lifetime,
            self.relay_hosts if self.relay_hosts is not None else default_hosts(self.preset),
            self.relay_max_mb * 1024 * 1024,
        )


JOB_KEYS = tuple(f.name for f in dataclasses.fields(Job) if f.name not in ("name", "extra"))


def make_job(name: str, values: dict[str, Any], base_dir: Path | None = None) -> Job:
    """A validated Job from config or flag values; ConfigError names the bad key."""
    unknown = sorted(set(values) - set(JOB_KEYS))
    if unknown:
        raise ConfigError(
            f"job {name}: unknown setting {unknown[0]!r}; known settings: {', '.join(JOB_KEYS)}"
        )
    for required in ("preset", "path"):
        if not values.get(required):
            raise ConfigError(
                f'job {name}: {required} is not set; add {required} = "…" to '
                f"[engagement_sync.jobs.{name}] or pass --{required}"
            )
    if values["preset"] not in PRESET_NAMES:
        raise ConfigError(
            f"job {name}: preset {values['preset']!r} is not known; use one of "
            f"{', '.join(PRESET_NAMES)}"
        )
    targets = values.get("targets", TARGETS)
    targets = tuple([targets] if isinstance(targets, str) else targets)
    if not targets or set(targets) - set(TARGETS):
        raise ConfigError(f"job {name}: targets must be a list of v1 and/or v2, not {targets!r}")
    clean = {k: v for k, v in values.items() if v is not None}
    _check_types(name, clean)
    clean["targets"] = targets
    if values["preset"] == "generic" and not values.get("mapping"):
        raise ConfigError(
            f"job {name}: the generic preset needs a mapping file; add "
            f'mapping = "…toml" to [engagement_sync.jobs.{name}] or pass --mapping'
        )
    for key in ("path", "contact_map", "owner_map", "mapping", "disposition_map"):
        if key in clean and base_dir is not None and not _URL.match(str(clean[key])):
            clean[key] = str((base_dir / os.path.expanduser(str(clean[key]))).resolve())
    if "default_region" in clean:
        clean["default_region"] = _region(name, clean["default_region"])
    job = Job(name=name, **clean)
    relay = job.relay_settings
    if relay is not None and (problem := settings_problem(relay)):
        raise ConfigError(f"job {name}: {problem}; fix it in [engagement_sync.jobs.{name}]")
    return job


_BOOLS = {
    "run_workflows",
    "allow_unassociated",
    "truncate_transcripts",
    "validate_dns",
    "is_private",
    "follow_symlinks",
}


_INTS = {"relay_url_lifetime", "relay_max_mb"}


def _check_types(name: str, values: dict[str, Any]) -> None:
    """A bad value stops with the key, the value and what it should be."""
    if isinstance(values.get("relay_hosts"), str):  # a flag: comma-separated
        values["relay_hosts"] = [h.strip() for h in values["relay_hosts"].split(",") if h.strip()]
    for key, value in values.items():
        if key == "targets":
            continue
        if key == "relay_hosts":
            if not isinstance(value, list | tuple) or not all(isinstance(h, str) for h in value):
                raise ConfigError(
                    f'job {name}: relay_hosts must be a list of host names (["a.example.com", '
                    f'"*.example.net"]); fix it in [engagement_sync.jobs.{name}]'
                )
            values[key] = tuple(value)
            continue
        expected = bool if key in _BOOLS else int if key in _INTS else str
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            kind = {bool: "true or false", int: "a whole number", str: "a string"}[expected]
            raise ConfigError(
                f"job {name}: {key} = {value!r} must be {kind}; fix it in "
                f"[engagement_sync.jobs.{name}]"
            )


def _region(name: str, region: str) -> str:
    """An ISO 3166 region phonenumbers knows, upper-cased; anything else stops the job."""
    if not valid_region(region.strip()):
        raise ConfigError(
            f"job {name}: default_region = {region!r} is not a region code phonenumbers knows; "
            'use a two-letter ISO 3166 code such as "US" or "GB" in '
            f"[engagement_sync.jobs.{name}] or --default-region"
        )
    return region.strip().upper()


def configured_jobs() -> dict[str, dict[str, Any]]:
    """The `[engagement_sync.jobs.*]` tables from .dlt/config.toml (and env overrides)."""
    jobs: object = dlt.config.get("engagement_sync.jobs")
    if jobs is None:
        return {}
    if not isinstance(jobs, dict) or not all(isinstance(v, dict) for v in jobs.values()):
        raise ConfigError(
            "[engagement_sync.jobs] must hold one table per job, e.g. "
            "[engagement_sync.jobs.calls] with preset and path"
        )
    return {name: dict(values) for name, values in jobs.items()}


def select_jobs(job_name: str | None, flags: dict[str, Any]) -> list[Job]:
    """Jobs for a command: a one-off from --preset/--path, one named job, or every job."""
    given = {k: v for k, v in flags.items() if v is not None}
    if "preset" in given or "path" in given:
        return [make_job(given.get("preset", "adhoc"), given, Path.cwd())]
    jobs = configured_jobs()
    if job_name is not None:
        if job_name not in jobs:
            raise ConfigError(
                f"no job {job_name!r} in .dlt/config.toml; known jobs: "
                f"{', '.join(sorted(jobs)) or 'none'}"
            )
        jobs = {job_name: jobs[job_name]}
    if not jobs:
        raise ConfigError(
            "no job to run: pass --preset NAME --path PATH, or declare "
            "[engagement_sync.jobs.<name>] in .dlt/config.toml"
        )
    return [make_job(name, {**values, **given}, Path.cwd()) for name, values in jobs.items()]


def export_job(job: Job, incremental: bool = True) -> ExportJob:
    bucket_url, file_glob = split_path(job.path, job.file_glob)
    options = {"mapping": _mapping(job)} if job.mapping else {}
    return ExportJob(
        job.name,
        job.preset,
        bucket_url,
        file_glob,
        job.external_id_prefix,
        job.default_region,
        incremental,
        job.targets,
        options,
        job.follow_symlinks,
    )


def _mapping(job: Job) -> dict[str, Any]:
    """The job's generic mapping file, parsed and checked (ConfigError naming every problem)."""
    assert job.mapping is not None
    try:
        return parse_mapping(Path(job.mapping).read_bytes())
    except OSError as exc:
        raise ConfigError(
            f"job {job.name}: mapping {job.mapping}: cannot read it ({exc.strerror}); fix the path"
        ) from None
    except MappingError as exc:
        raise ConfigError(f"job {job.name}: mapping {job.mapping}: {exc}") from None


def split_path(path: str, file_glob: str | None = None) -> tuple[str, str]:
    """(bucket_url, file_glob) for a folder, a file, a glob or a bucket URL."""
    if file_glob:
        return path, file_glob
    match = _GLOB.search(path)
    if match:
        cut = path.rfind("/", 0, match.start())
        return (path[:cut] or "/", path[cut + 1 :]) if cut >= 0 else (str(Path.cwd()), path)
    if _URL.match(path):
        name = path.rstrip("/").rsplit("/", 1)
        has_ext = "." in name[-1] and not path.endswith("/")
        return (name[0], name[1]) if has_ext and len(name) == 2 else (path, "**/*")
    local = Path(path)
    if local.is_file():
        return str(local.parent.resolve()), local.name
    if not local.exists():
        raise ConfigError(
            f"path {path!r} does not exist; pass a folder, a file, a glob "
            "(exports/*.json) or a bucket URL (s3://bucket/prefix)"
        )
    return str(local.resolve()), "**/*"


def build_settings(job: Job) -> BuildSettings:
    """Builder settings, loading the job's contact and owner maps (CSV files)."""
    contacts, owners = ContactIndex(), OwnerIndex()
    dispositions = dict(HUBSPOT_DEFAULT_DISPOSITIONS)
    if job.contact_map:
        rows = _csv_rows(job.contact_map, "contact_map", ("contact_id", "email", "phone"))
        contacts = _read_map(
            job, "contact_map", lambda: ContactIndex.from_rows(rows, job.default_region)
        )
    if job.owner_map:
        rows = _csv_rows(job.owner_map, "owner_map", ("owner_id", "email"))
        owners = _read_map(job, "owner_map", lambda: OwnerIndex.from_rows(rows))
    if job.disposition_map:
        rows = _csv_rows(job.disposition_map, "disposition_map", ("disposition", "guid"))
        # One normalisation for map keys and record values (case, spaces, hyphens).
        dispositions = {
            **HUBSPOT_DEFAULT_DISPOSITIONS,
            **{disposition_key(r["disposition"]): r["guid"].strip() for r in rows},
        }
    return BuildSettings(
        source_system=job.source_system or job.preset,
        is_private=job.is_private,
        allow_unassociated=job.allow_unassociated,
        truncate_transcripts=job.truncate_transcripts,
        contacts=contacts,
        owners=owners,
        resolve=resolve_host if job.validate_dns else None,
        dispositions=dispositions,
        now=datetime.now(UTC),
        relay=job.relay is not None and "v2" in job.targets,
        allow_loopback_media=allow_loopback_media(),
    )


def _read_map(job: Job, key: str, read: Callable[[], T]) -> T:
    """A map's index; a row that cannot be read stops the job naming the map and its line."""
    try:
        return read()
    except MapRowError as exc:
        raise ConfigError(f"job {job.name}: {key} {getattr(job, key)} {exc}; fix the map") from None


def allow_loopback_media() -> bool:
    """The testing switch `[engagement_sync] allow_loopback_media` (env
    ENGAGEMENT_SYNC__ALLOW_LOOPBACK_MEDIA): media and relay downloads on 127.0.0.1 / localhost
    pass the media_url rules, over http too. Never set it outside tests."""
    return bool(dlt.config.get("engagement_sync.allow_loopback_media", bool))


@lru_cache(maxsize=100_000)
def resolve_host(host: str) -> tuple[str, ...]:
    """Every address `host` resolves to (validate_dns); a name that does not resolve gives
    nothing, and the media_url check then passes it on to the API's own check."""
    try:
        return tuple({str(info[4][0]) for info in socket.getaddrinfo(host, 443)})
    except (socket.gaierror, UnicodeError):
        return ()


def _csv_rows(path: str, key: str, header: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = set(header) - set(reader.fieldnames or ())
            if missing:
                raise ConfigError(f"{key} {path}: the header must be {','.join(header)}")
            return list(reader)
    except OSError as exc:
        raise ConfigError(f"{key} {path}: cannot read it ({exc.strerror}); fix the path") from None
