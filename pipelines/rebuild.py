"""`reconcile`: rebuild what a lost or partial ledger forgot, from the destination itself.

v1: every record this staging does not know as delivered to the portal is looked up there
(lookup.py: the portal's engagements paged 250 at a time, matched on the reconciliation
fingerprint); found ones are recorded `existing` with their engagement id, the rest are truly
missing and stay pending for `push`. v2 lists no external_id, so it cannot be asked without
sending: the records are sent again, and the API answers 200 (recorded `existing`) for what the
workspace holds and creates what is truly missing; `--dry-run` only counts them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from destinations.engagements.client import EngagementsClient
from destinations.engagements.ledger import ensure_ledger
from destinations.engagements.staging_db import opened, table_exists
from destinations.engagements.states import standings_sql
from pipelines.destination_identity import identify, known_destination
from pipelines.destinations_config import DestinationSettings
from pipelines.lookup import LookupReport, look_up_pending
from pipelines.push import Scope, check_access, count_pending, push


def reconcile(
    staging: Path,
    settings: DestinationSettings,
    run_id: str,
    since: datetime | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Found / missing / requests for one target (see the module docstring)."""
    check_access(settings)
    if settings.target == "v2":
        return _reconcile_v2(staging, settings, run_id, since, dry_run)
    client = EngagementsClient("v1", settings.base_url, settings.api_token, timeout=30.0)
    try:
        with opened(staging) as con:
            ensure_ledger(con)
            settings = identify(con, settings, client)
            if not table_exists(con, "v1_requests"):
                return LookupReport("v1", settings.destination_id, dry_run=dry_run).as_dict()
            query = _undelivered("v1", since)
            report = look_up_pending(
                con,
                client,
                settings.destination_id,
                (query, _params(settings, since)),
                run_id,
                dry_run,
            )
    finally:
        client.close()
    return report.as_dict()


def _undelivered(target: str, since: datetime | None) -> str:
    window = " AND started_at >= ?" if since is not None else ""
    return (
        f"SELECT external_id, body, content_hash FROM ({standings_sql(target)}) "
        f"WHERE body IS NOT NULL AND standing IN ('pending', 'unknown'){window}"
    )


def _params(settings: DestinationSettings, since: datetime | None) -> list[Any]:
    return [settings.destination_id, *([since] if since is not None else [])]


def _reconcile_v2(
    staging: Path,
    settings: DestinationSettings,
    run_id: str,
    since: datetime | None,
    dry_run: bool,
) -> dict[str, Any]:
    scope = Scope(since=since)
    if dry_run:
        with opened(staging) as con:
            ensure_ledger(con)
            destination = known_destination(con, settings)
        pending = count_pending(staging, "v2", destination, scope)
        report = LookupReport("v2", destination, looked_up=pending, dry_run=True)
        return {
            **report.as_dict(),
            "found": None,
            "missing": None,
            "note": "v2 cannot be asked without sending; a push resends, and the API "
            "answers 200 for what the workspace holds",
        }
    pushed = push(staging, settings, show_progress=False, scope=scope, run_id=run_id)
    return LookupReport(
        "v2",
        pushed.destination,
        looked_up=pushed.pending,
        found=pushed.existing,
        missing=pushed.created,
        requests=pushed.requests,
    ).as_dict()
