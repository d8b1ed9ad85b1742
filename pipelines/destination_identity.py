"""The destination a command's settings name: asked of the destination when pushing
(destinations/engagements/naming.py), read from the staging when only looking.

`destination_id` set by the user still wins (a proxy, a vanity URL).
"""

from __future__ import annotations

from dataclasses import replace

import duckdb

from destinations.engagements.client import EngagementsClient
from destinations.engagements.identity import normalised_url, workspace_destination
from destinations.engagements.naming import KEY_NAME, name_destination, staging_key
from destinations.engagements.staging_db import table_exists
from pipelines.destinations_config import DestinationSettings


def identify(
    con: duckdb.DuckDBPyConnection, settings: DestinationSettings, client: EngagementsClient
) -> DestinationSettings:
    """`settings` with `destination_id` named by the destination (or as the user set it)."""
    if settings.destination_id:
        return settings
    named = name_destination(con, settings.target, settings.base_url, settings.api_token, client)
    return replace(settings, destination_id=named)


def known_destination(con: duckdb.DuckDBPyConnection, settings: DestinationSettings) -> str:
    """The destination status, explain and retry read, without asking the network: as set, the
    v2 token's fingerprint, else the one this target was last pushed to."""
    if settings.destination_id:
        return settings.destination_id
    key = _key_to_read(con) if settings.target == "v2" and settings.api_token else None
    if key is not None:
        return workspace_destination(settings.base_url, settings.api_token, key)
    row = con.execute(
        "SELECT max_by(destination, seq) FROM engagements.deliveries WHERE target = ?",
        [settings.target],
    ).fetchone()
    return str(row[0]) if row and row[0] else normalised_url(settings.base_url)


def _key_to_read(con: duckdb.DuckDBPyConnection) -> bytes | None:
    """The staging key; on a read-only staging only an existing one (None: none was made)."""
    row = con.execute(
        "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if not (row and row[0]):
        return staging_key(con)
    if not table_exists(con, "_meta"):
        return None
    found = con.execute("SELECT value FROM engagements._meta WHERE key = ?", [KEY_NAME]).fetchone()
    return bytes.fromhex(str(found[0])) if found else None
