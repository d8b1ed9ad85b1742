"""Where a staging file keeps its company: dlt pipeline state and the views over its tables.

The dlt pipelines of a staging file live in `.engagement-sync/<file name>/` next to it, so two
staging files never share incremental state, and moving the folder with the file keeps a
scheduled sync incremental.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from destinations.engagements.staging_db import checkpoint, opened, schema_lock, table_exists
from destinations.engagements.states import STANDING

DATASET = "engagements"
STAGE_PIPELINE = "engagements_stage"


def pipelines_dir(staging: Path) -> str:
    return str(staging.resolve().parent / ".engagement-sync" / staging.name)


def prepare(staging: Path) -> None:
    """Bring the schema up to date and refresh the views; also proves the file is not locked."""
    from pipelines.meta import ensure_schema

    with opened(staging) as con, schema_lock:  # another push of this process may be writing
        ensure_schema(con, str(staging))
        create_views(con)
        checkpoint(con)


def request_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [t for t in ("v1", "v2") if table_exists(con, f"{t}_requests")]


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """pending_deliveries, failed_deliveries, delivery_summary (README cookbook).

    A request's state is read against the destination each target was last pushed to.
    """
    targets = request_tables(con)
    if not targets:
        requests = (
            "SELECT NULL::VARCHAR AS target, NULL::VARCHAR AS external_id, "
            "NULL::VARCHAR AS content_hash, NULL::VARCHAR AS job WHERE false"
        )
    else:
        requests = " UNION ALL ".join(
            f"SELECT '{t}' AS target, external_id, content_hash, job FROM {DATASET}.{t}_requests"
            for t in targets
        )
    con.execute(f"""
    CREATE OR REPLACE VIEW {DATASET}.request_states AS
    WITH r AS ({requests}),
    current_destination AS (
        SELECT target, max_by(destination, seq) AS destination
        FROM {DATASET}.deliveries GROUP BY target)
    SELECT r.target, r.external_id, r.job, d.destination, {STANDING} AS state,
           s.http_status, s.engagement_id, s.error_code, s.error, s.request_id,
           s.recorded_at AS last_at
    FROM r
    LEFT JOIN current_destination d ON d.target = r.target
    LEFT JOIN {DATASET}.delivery_states s
           ON s.destination = d.destination AND s.target = r.target
          AND s.external_id = r.external_id;
    CREATE OR REPLACE VIEW {DATASET}.pending_deliveries AS
        SELECT * FROM {DATASET}.request_states WHERE state IN ('pending', 'unknown');
    CREATE OR REPLACE VIEW {DATASET}.failed_deliveries AS
        SELECT * FROM {DATASET}.request_states WHERE state = 'api_rejected';
    CREATE OR REPLACE VIEW {DATASET}.delivery_summary AS
        SELECT target, destination, state, count(*) AS records
        FROM {DATASET}.request_states GROUP BY ALL ORDER BY ALL;
    """)
