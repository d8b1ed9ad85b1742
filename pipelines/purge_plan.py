"""`purge --dry-run`: what `purge` would erase, counted by running the very same erase
(pipelines/purge.py) in a transaction that is rolled back, so the counts are the real purge's
by construction and the staging's bytes are not changed.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from destinations.engagements.staging_db import check_name, opened
from pipelines import compact, workspace
from pipelines.purge import erase


def would_purge(staging: Path, before: datetime) -> dict[str, int]:
    """Rows per table whose personal data `purge --before` would erase; {} without a staging."""
    check_name(staging)
    if not staging.exists():
        return {}
    with opened(staging) as con:
        con.begin()
        try:
            workspace.create_views(con)
            counts = erase(con, before)
        finally:
            con.rollback()
    return {**counts, "dlt_load_packages": len(compact.loaded_packages(staging))}
