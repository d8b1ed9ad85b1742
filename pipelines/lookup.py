"""Asking the destination what it already holds before sending, so that a staging that knows
nothing of a destination never creates a second engagement there (DESIGN invariant 1).

v1: before the first send from this staging to a portal (a new or lost staging) and on
`reconcile`, the pending records are looked up on the portal (portal_scan.py) and the ones it
holds are recorded `existing` with their engagement id. v2 needs no look-up: the API answers 200
for an external_id it holds, and that is recorded `existing`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import orjson

from destinations.engagements.client import EngagementsClient
from destinations.engagements.ledger import Ledger
from destinations.engagements.portal_scan import find_existing
from destinations.engagements.states import DELIVERED

NOTE = "found on the portal before sending (this staging had no record of delivering it)"


@dataclass
class LookupReport:
    target: str
    destination: str
    looked_up: int = 0
    found: int = 0
    missing: int = 0
    requests: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def delivered_any(con: duckdb.DuckDBPyConnection, destination: str, target: str) -> bool:
    """Whether this staging's ledger has ever delivered anything to `destination`."""
    row = con.execute(
        "SELECT count(*) FROM engagements.deliveries WHERE destination = ? AND target = ? "
        f"AND phase = 'outcome' AND state IN {DELIVERED!r} LIMIT 1",
        [destination, target],
    ).fetchone()
    return bool(row and row[0])


def look_up_pending(
    con: duckdb.DuckDBPyConnection,
    client: EngagementsClient,
    destination: str,
    pending_query: tuple[str, list[Any]],
    run_id: str,
    dry_run: bool = False,
) -> LookupReport:
    """Look the records of `pending_query` (external_id, body, content_hash, …) up on the v1
    portal; record the ones found `existing` unless `dry_run`."""
    query, params = pending_query
    # What was found came from the bytes this staging last sent, when it sent any: recording
    # that intent's hash keeps a change made since then visible as drift.
    rows = con.execute(
        f"""SELECT p.external_id, p.body, coalesce(s.intent_hash, p.content_hash)
        FROM ({query}) p LEFT JOIN engagements.delivery_states s
          ON s.destination = ? AND s.target = 'v1' AND s.external_id = p.external_id""",
        [*params, destination],
    ).fetchall()
    report = LookupReport("v1", destination, looked_up=len(rows), dry_run=dry_run)
    if not rows:
        return report
    ledger = Ledger(con, destination, "v1", run_id)
    hashes = {ext: h for ext, _, h in rows}
    lookup = find_existing(
        client, {ext: orjson.loads(body) for ext, body, _ in rows}, ledger.adopted_ids()
    )
    report.found, report.requests = len(lookup.found), lookup.requests
    report.missing = len(rows) - report.found
    if not dry_run:
        ledger.found([(ext, eng, hashes[ext]) for ext, eng in lookup.found.items()], NOTE)
    ledger.stop_writer()
    return report
