"""`push --dry-run`: what a push would do, per target, and why; nothing is sent."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from destinations.engagements.client import EngagementsClient
from destinations.engagements.ledger import ensure_ledger
from destinations.engagements.outcomes import classify
from destinations.engagements.staging_db import opened, table_exists
from destinations.engagements.states import sendable_sql, standings_sql
from pipelines.destination_identity import identify, known_destination
from pipelines.destinations_config import DestinationSettings
from pipelines.meta import ensure_schema
from sources.errors import ScopeError, StopRunError, TransientError

log = logging.getLogger("engagement_sync")


def check_token(staging: Path, settings: DestinationSettings) -> tuple[DestinationSettings, str]:
    """The token checked with one read-only call, and the destination named, sending nothing.

    v1 without a `destination_id`: the account information call that names the portal is the
    check; otherwise (v2, or v1 with `destination_id` set) a one-record list. A token that may
    only write (HTTP 403 on the read) cannot be checked without sending: a warning, and the
    plan is made against the destination this target was last pushed to. 401 (a wrong token)
    and an unreachable API stop the dry run, as they would stop the push.
    Returns (settings with the destination, "checked" or the warning)."""
    target = settings.target
    if not settings.api_token:
        return _unchecked(staging, settings, "no API token is set")
    client = EngagementsClient(target, settings.base_url, settings.api_token, timeout=30.0)
    try:
        if target == "v2" or settings.destination_id:
            response = client.probe()
            if response.status in (401, 403):
                classify(target, response.status, response.headers, response.content)
        with opened(staging) as con:
            ensure_ledger(con)
            return identify(con, settings, client), "checked"
    except ScopeError:  # 403: valid, but without the scope to read
        return _unchecked(staging, settings, "it may not read (HTTP 403)")
    except TransientError as exc:
        raise StopRunError(
            f"{target}: cannot reach {settings.base_url} ({exc}); check the network or "
            "base_url and run again"
        ) from None
    finally:
        client.close()


def _unchecked(
    staging: Path, settings: DestinationSettings, why: str
) -> tuple[DestinationSettings, str]:
    with opened(staging) as con:
        ensure_ledger(con)
        destination = known_destination(con, settings)
    warning = (
        f"{settings.target}: the token could not be checked without sending: {why}; the plan "
        f"is against {destination}, where this target was last pushed; a push will show "
        "whether the token may write"
    )
    log.warning(warning, extra={"target": settings.target})
    return replace(settings, destination_id=destination), warning


def plan(staging: Path, target: str, destination_id: str) -> dict[str, Any]:
    """Counts of what would be created, resent after an unknown outcome (v1 after a look-up),
    updated (v1 drift), skipped (delivered, refused by the API, drifted on v2), and the records
    rejected before sending, by reason."""
    out: dict[str, Any] = {
        "create": 0,
        "resend_or_reconcile": 0,
        "update": 0,
        "skip": {},
        "rejected": {},
    }
    with opened(staging) as con:
        ensure_schema(con, str(staging))
        if table_exists(con, f"{target}_requests"):
            rows = con.execute(
                f"""
                SELECT CASE
                    WHEN standing = 'pending' THEN 'create'
                    WHEN standing = 'unknown' THEN 'resend_or_reconcile'
                    WHEN standing = 'drifted' AND standing IN {sendable_sql(target)} THEN 'update'
                    ELSE 'skip:' || standing END AS action, count(*)
                FROM ({standings_sql(target)}) GROUP BY ALL""",
                [destination_id],
            ).fetchall()
            for action, n in rows:
                if action.startswith("skip:"):
                    out["skip"][action[5:]] = int(n)
                else:
                    out[action] = int(n)
        if table_exists(con, "rejected_records"):
            for reason, n in con.execute(
                "SELECT reason, count(*) FROM engagements.rejected_records "
                "WHERE target = ? OR target IS NULL GROUP BY ALL ORDER BY 2 DESC",
                [target],
            ).fetchall():
                out["rejected"][reason] = int(n)
    return out
