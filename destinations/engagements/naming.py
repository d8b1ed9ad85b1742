"""Naming a destination by asking it (DESIGN invariant 8), and carrying a ledger written
before identities over to the portal that proves it holds those engagements.

v1 asks HubSpot for the token's portal; v2 fingerprints the token with a key kept in the
staging, so every machine running this staging names the workspace alike (identity.py says
what the names look like). Used by `engagement-sync push` and by the dlt destination itself
when it runs in a pipeline of the user's own without a `destination_id`.
"""

from __future__ import annotations

import secrets

import duckdb

from destinations.engagements.client import EngagementsClient
from destinations.engagements.identity import (
    normalised_url,
    portal_destination,
    portal_id,
    workspace_destination,
)
from destinations.engagements.portal_scan import SCAN_LIMIT, SCAN_PATH
from destinations.engagements.reconcile import pages
from sources.errors import StopRunError, TransientError

KEY_NAME = "destination_key"  # the fingerprint key's row in engagements._meta


def staging_key(con: duckdb.DuckDBPyConnection) -> bytes:
    """The staging's fingerprint key, made on first use (a lost staging loses it: harmless)."""
    con.execute("CREATE TABLE IF NOT EXISTS engagements._meta (key VARCHAR, value VARCHAR)")
    row = con.execute("SELECT value FROM engagements._meta WHERE key = ?", [KEY_NAME]).fetchone()
    if row:
        return bytes.fromhex(str(row[0]))
    key = secrets.token_bytes(32)
    con.execute("INSERT INTO engagements._meta VALUES (?, ?)", [KEY_NAME, key.hex()])
    return key


def name_destination(
    con: duckdb.DuckDBPyConnection,
    target: str,
    base_url: str,
    api_token: str,
    client: EngagementsClient,
) -> str:
    """The ledger's name for the destination `api_token` reaches at `base_url`."""
    if target == "v2":
        return workspace_destination(base_url, api_token, staging_key(con))
    named = portal_destination(portal_id(client), base_url)
    adopt_url_ledger(con, client, base_url, named)
    return named


def adopt_url_ledger(
    con: duckdb.DuckDBPyConnection, client: EngagementsClient, base_url: str, portal: str
) -> int:
    """Carry v1 ledger rows keyed by the old URL identity over to `portal`, each only once the
    portal confirms it (its engagement id reads back with this token); records the old ledger
    left undecided (no engagement id) come along to be reconciled. Returns records carried."""
    old = normalised_url(base_url)
    marker = f"adopted:{old}->{portal}"
    done = con.execute("SELECT 1 FROM engagements._meta WHERE key = ?", [marker]).fetchone()
    if old == portal or done:
        return 0
    rows = con.execute(_OLD_ROWS, [old, portal]).fetchall()
    if rows:
        held = _portal_ids(client, {str(r[1]) for r in rows if r[1] is not None})
        carried = [ext for ext, eng in rows if eng is None or str(eng) in held]
        _copy_rows(con, old, portal, carried)
    con.execute("INSERT INTO engagements._meta VALUES (?, 'done')", [marker])
    return len(rows)


_OLD_ROWS = """
SELECT external_id, engagement_id FROM engagements.delivery_states
WHERE destination = ? AND target = 'v1' AND external_id NOT IN (
    SELECT external_id FROM engagements.delivery_states WHERE destination = ? AND target = 'v1')
"""


def _portal_ids(client: EngagementsClient, wanted: set[str]) -> set[str]:
    """Which of `wanted` engagement ids the token's portal holds (one scan, 250 per request)."""
    held: set[str] = set()
    try:
        for results, _ in pages(client, SCAN_PATH, {"limit": SCAN_LIMIT}, max_pages=None):
            held |= {str(e.get("engagement", {}).get("id")) for e in results}
            if not wanted - held:
                break
    except TransientError as exc:
        raise _unconfirmed(str(exc)) from None
    return held & wanted


def _unconfirmed(why: str) -> StopRunError:
    return StopRunError(
        f"v1: could not confirm which earlier deliveries this portal holds ({why}); nothing was "
        "sent, run again"
    )


def _copy_rows(con: duckdb.DuckDBPyConnection, old: str, portal: str, ids: list[str]) -> None:
    con.execute(
        """
        INSERT INTO engagements.deliveries (recorded_at, run_id, pid, destination, target,
            external_id, phase, state, content_hash, request_body, run_workflows, http_status,
            engagement_id, error_code, error, request_id, note, operation)
        SELECT recorded_at, run_id, pid, ?, target, external_id, phase, state, content_hash,
               request_body, run_workflows, http_status, engagement_id, error_code, error,
               request_id, concat_ws('; ', note, 'carried over from ' || destination
                                     || ' after the portal confirmed it'), operation
        FROM engagements.deliveries
        WHERE destination = ? AND target = 'v1' AND list_contains(?, external_id)
        ORDER BY seq""",
        [portal, old, ids],
    )
