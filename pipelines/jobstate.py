"""What the staging remembers of each job: its external_id prefix and a fingerprint of the
settings that shape its records.

- A changed prefix after deliveries would make every record a second engagement: refused
  unless --force-new-prefix.
- Changed settings (a fixed contact map, another default region, …) change the records built
  from files already read, so the job's files are all read again, once.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from destinations.engagements.staging_db import opened
from pipelines.jobs import Job
from pipelines.meta import ensure_schema
from sources.errors import ConfigError


def fingerprint(job: Job) -> str:
    """Hash of every setting that shapes the job's records, including map and mapping files."""
    settings = {
        k: getattr(job, k)
        for k in (
            "preset",
            "prefix",
            "source_system",
            "targets",
            "is_private",
            "default_region",
            "allow_unassociated",
            "truncate_transcripts",
            "file_glob",
            "path",
            "validate_dns",
        )
    }
    for key in ("contact_map", "owner_map", "mapping", "disposition_map"):
        path = getattr(job, key)
        try:
            settings[key] = hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None
        except OSError as exc:
            raise ConfigError(
                f"job {job.name}: {key} {path}: cannot read it ({exc.strerror}); fix the path "
                f"or the job's {key} setting"
            ) from None
    if job.relay:  # records that needed a relay are staged as sendable now (only when set, so
        settings["relay"] = True  # the fingerprints of jobs without one stay as they were)
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def jobs_to_reread(staging: Path, jobs: list[Job], force_new_prefix: bool = False) -> set[str]:
    """Names of jobs whose settings changed since the last run (all their files are read again).
    ConfigError when a job's prefix changed after it had deliveries."""
    reread = set()
    with opened(staging) as con:
        ensure_schema(con, str(staging))
        for job in jobs:
            row = con.execute(
                "SELECT prefix, settings_hash FROM engagements.jobs WHERE job = ? "
                "ORDER BY updated_at DESC LIMIT 1",
                [job.name],
            ).fetchone()
            if row is None:
                continue  # a new job: its first run reads everything anyway
            old_prefix, old_hash = row
            if old_prefix != job.external_id_prefix and not force_new_prefix:
                delivered = con.execute(
                    "SELECT count(*) FROM engagements.delivery_states WHERE external_id LIKE ? "
                    "AND state IN ('created', 'existing', 'updated')",
                    [f"{old_prefix}:%"],
                ).fetchone()
                if delivered and delivered[0]:
                    raise ConfigError(
                        f"job {job.name}: prefix changed from {old_prefix!r} to "
                        f"{job.external_id_prefix!r} after {delivered[0]} deliveries; every "
                        "record would become a second engagement. Put the old prefix back, or "
                        "pass --force-new-prefix if that is really what you want"
                    )
            if old_hash != fingerprint(job):
                reread.add(job.name)
    return reread


def remember(staging: Path, jobs: list[Job]) -> None:
    with opened(staging) as con:
        ensure_schema(con, str(staging))
        for job in jobs:
            con.execute("DELETE FROM engagements.jobs WHERE job = ?", [job.name])
            con.execute(
                "INSERT INTO engagements.jobs VALUES (?, ?, ?, ?, ?)",
                [job.name, job.preset, job.external_id_prefix, fingerprint(job), datetime.now(UTC)],
            )
