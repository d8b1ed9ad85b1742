"""sqlite storage of the sandbox's engagements, shared by the HTTP handlers and the tests.

One connection guarded by a lock: uvicorn's event loop and the test thread use it at the same
time. A file-backed store runs in WAL mode so that a sandbox restarted on the same file (the
demo runs twice) sees what the previous run created.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .crm_store import CRM_SCHEMA, CRM_TABLES, CrmStoreMixin

_SCHEMA = """
CREATE TABLE IF NOT EXISTS v1_engagements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    type TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    owner_id INTEGER,
    active INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    associations TEXT NOT NULL,
    attachments TEXT NOT NULL,
    metadata TEXT NOT NULL,
    properties TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS v2_engagements (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace INTEGER NOT NULL,
    id TEXT NOT NULL UNIQUE,
    external_id TEXT NOT NULL,
    type TEXT NOT NULL,
    title TEXT NOT NULL,
    source_system TEXT NOT NULL,
    media_url TEXT NOT NULL,
    run_workflows INTEGER NOT NULL,
    start_at TEXT NOT NULL,
    is_private INTEGER NOT NULL,
    participants TEXT NOT NULL,
    transcript_text TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (workspace, external_id)
);
"""
# A store file written before workspaces existed: one workspace, the default portal's.
_ADD_WORKSPACE = """
ALTER TABLE v2_engagements RENAME TO v2_engagements_old;
{create};
INSERT INTO v2_engagements SELECT seq, {portal}, id, external_id, type, title, source_system,
    media_url, run_workflows, start_at, is_private, participants, transcript_text, created_at,
    updated_at FROM v2_engagements_old;
DROP TABLE v2_engagements_old;
"""
# HubSpot ids in the sandbox start at 1000 and are never reused, not even after reset().
_SEED_V1_SEQUENCE = """
INSERT INTO sqlite_sequence (name, seq)
SELECT 'v1_engagements', 999
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'v1_engagements')
"""
_V1_JSON = ("associations", "attachments", "metadata", "properties")
_V1_BOOL = ("active",)
_V2_JSON = ("participants",)
_V2_BOOL = ("run_workflows", "is_private")
_V2_COLUMNS = (
    "workspace, id, external_id, type, title, source_system, media_url, run_workflows, start_at, "
    "is_private, participants, transcript_text, created_at, updated_at"
)
_ASSOCIATION_KEYS = {"CONTACT": "contactIds", "COMPANY": "companyIds", "DEAL": "dealIds"}


def _decode(row: sqlite3.Row, json_cols: tuple[str, ...], bool_cols: tuple[str, ...]) -> dict:
    """Turn a sqlite row into a plain dict with JSON columns parsed and flags as booleans."""
    out: dict[str, Any] = dict(row)
    for col in json_cols:
        out[col] = json.loads(out[col])
    for col in bool_cols:
        out[col] = bool(out[col])
    return out


class Store(CrmStoreMixin):
    """Thread-safe engagement storage; rows come back as dicts with JSON columns decoded.

    v1 engagements of type CALL/MEETING are also the CRM objects API's calls/meetings
    (crm_store.py): one table of objects per portal, one id.
    """

    def __init__(self, path: str | None = None, default_portal: int = 62515) -> None:
        self.path = path
        self.default_portal = default_portal
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._watchers: list[Callable[[str], None]] = []
        self._connect()

    def watch_creates(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call callback("v1"|"v2") after each new engagement is committed, before the answer.

        Tests decide kill points by these events (e.g. SIGKILL the client after its Nth create,
        which also loses that create's response), never by sleeps. Returns the unsubscribe.
        """
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback)

    def _created(self, api: str) -> None:
        for callback in list(self._watchers):
            callback(api)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self.path or ":memory:", check_same_thread=False, isolation_level=None
            )
            conn.row_factory = sqlite3.Row
            if self.path:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=5000")
            self._migrate(conn)
            conn.executescript(_SCHEMA)
            conn.executescript(CRM_SCHEMA)
            conn.execute(_SEED_V1_SEQUENCE)
            self._conn = conn
        return self._conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        v1_columns = {r[1] for r in conn.execute("PRAGMA table_info(v1_engagements)")}
        if v1_columns and "properties" not in v1_columns:  # a file from before the objects API
            conn.execute(
                "ALTER TABLE v1_engagements ADD COLUMN properties TEXT NOT NULL DEFAULT '{}'"
            )
        columns = {r[1] for r in conn.execute("PRAGMA table_info(v2_engagements)")}
        if columns and "workspace" not in columns:
            create = _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS v2_engagements") :]
            create = create.strip().rstrip(";")
            conn.executescript(_ADD_WORKSPACE.format(create=create, portal=self.default_portal))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock for one transaction, committing on success and rolling back on error."""
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close a file-backed store (it reopens on next use); an in-memory store stays open.

        Closing an in-memory database would lose its rows, and tests inspect them after stop().
        """
        with self._lock:
            if self._conn is not None and self.path:
                self._conn.close()
                self._conn = None

    def reset(self) -> None:
        """Delete every engagement of both APIs and every custom CRM property (v1 ids keep
        increasing)."""
        with self._tx() as conn:
            for table in CRM_TABLES:
                conn.execute(f"DELETE FROM {table}")
            conn.execute("DELETE FROM v1_engagements")
            conn.execute("DELETE FROM v2_engagements")

    # ---- HubSpot Engagements v1 -------------------------------------------------------------

    def insert_v1(self, row: dict[str, Any]) -> dict[str, Any]:
        """Store a new v1 engagement (without id) and return it with its assigned id."""
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO v1_engagements (portal_id, type, timestamp, owner_id, active,"
                " created_at, last_updated, associations, attachments, metadata)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["portal_id"],
                    row["type"],
                    row["timestamp"],
                    row["owner_id"],
                    int(row["active"]),
                    row["created_at"],
                    row["last_updated"],
                    json.dumps(row["associations"]),
                    json.dumps(row["attachments"]),
                    json.dumps(row["metadata"]),
                ),
            )
            new_id = cur.lastrowid
        self._created("v1")
        return {**row, "id": new_id}

    def update_v1(self, engagement_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Overwrite engagement columns; returns the new row, or None if the id is unknown."""
        params: dict[str, Any] = {"id": engagement_id}
        sets = []
        for col, value in changes.items():
            sets.append(f"{col} = :{col}")
            params[col] = json.dumps(value) if col in _V1_JSON else value
        with self._tx() as conn:
            if sets:
                conn.execute(f"UPDATE v1_engagements SET {', '.join(sets)} WHERE id = :id", params)
            return self.get_v1(engagement_id)

    def get_v1(self, engagement_id: int, portal: int | None = None) -> dict[str, Any] | None:
        """One v1 engagement by id (in `portal` when given), or None."""
        rows = self._select_v1("WHERE id = ?", (engagement_id,))
        rows = [r for r in rows if portal is None or r["portal_id"] == portal]
        return rows[0] if rows else None

    def page_v1(self, portal: int, after_id: int, limit: int) -> list[dict[str, Any]]:
        """Up to limit engagements of a portal with an id above after_id, ordered by id."""
        return self._select_v1(
            "WHERE portal_id = ? AND id > ? ORDER BY id LIMIT ?", (portal, after_id, limit)
        )

    def page_v1_associated(
        self, portal: int, object_type: str, object_id: int, after_id: int, limit: int
    ) -> list[dict[str, Any]]:
        """Like page_v1, restricted to engagements associated with one CONTACT/COMPANY/DEAL."""
        path = f"$.{_ASSOCIATION_KEYS[object_type]}"
        return self._select_v1(
            "WHERE portal_id = ? AND id > ?"
            " AND EXISTS (SELECT 1 FROM json_each(associations, ?) WHERE value = ?)"
            " ORDER BY id LIMIT ?",
            (portal, after_id, path, object_id, limit),
        )

    def recent_v1(
        self, portal: int, since_ms: int, offset: int, count: int
    ) -> tuple[list[dict], int]:
        """A portal's engagements updated at or after since_ms, newest first, and their count."""
        with self._lock:
            total = self._connect().execute(
                "SELECT COUNT(*) FROM v1_engagements WHERE portal_id = ? AND last_updated >= ?",
                (portal, since_ms),
            )
            n = int(total.fetchone()[0])
            rows = self._select_v1(
                "WHERE portal_id = ? AND last_updated >= ?"
                " ORDER BY last_updated DESC, id DESC LIMIT ? OFFSET ?",
                (portal, since_ms, count, offset),
            )
        return rows, n

    def _select_v1(self, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._connect().execute(f"SELECT * FROM v1_engagements {where}", params)
            return [_decode(r, _V1_JSON, _V1_BOOL) for r in cur.fetchall()]

    def v1_engagements(self, portal: int | None = None) -> list[dict[str, Any]]:
        """Every stored v1 engagement row (of one portal when given), ordered by id."""
        if portal is None:
            return self._select_v1("ORDER BY id", ())
        return self._select_v1("WHERE portal_id = ? ORDER BY id", (portal,))

    def count_v1(self, portal: int | None = None) -> int:
        """How many v1 engagements are stored (in one portal when given)."""
        return len(self.v1_engagements(portal)) if portal is not None else self._count("v1")

    def _count(self, api: str) -> int:
        with self._lock:
            cur = self._connect().execute(f"SELECT COUNT(*) FROM {api}_engagements")
            return int(cur.fetchone()[0])

    # ---- AskElephant v2 ---------------------------------------------------------------------

    def insert_v2(self, row: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create the engagement unless its external_id exists; returns (stored row, created).

        The UNIQUE constraint decides, inside one transaction, so concurrent creates of the
        same external_id store exactly one engagement.
        """
        values = dict(row)
        values["participants"] = json.dumps(row["participants"])
        for col in _V2_BOOL:
            values[col] = int(row[col])
        placeholders = ", ".join(f":{c.strip()}" for c in _V2_COLUMNS.split(","))
        with self._tx() as conn:
            cur = conn.execute(
                f"INSERT INTO v2_engagements ({_V2_COLUMNS}) VALUES ({placeholders})"
                " ON CONFLICT(workspace, external_id) DO NOTHING",
                values,
            )
            created = cur.rowcount == 1
            stored = self._select_v2(
                "WHERE workspace = ? AND external_id = ?", (row["workspace"], row["external_id"])
            )[0]
        if created:
            self._created("v2")
        return stored, created

    def get_v2(self, engagement_id: str, workspace: int | None = None) -> dict[str, Any] | None:
        """One v2 engagement by id (in `workspace` when given), or None."""
        rows = self._select_v2("WHERE id = ?", (engagement_id,))
        rows = [r for r in rows if workspace is None or r["workspace"] == workspace]
        return rows[0] if rows else None

    def page_v2(
        self, workspace: int, after_seq: int, limit: int, updated_gte: str | None
    ) -> list[dict[str, Any]]:
        """Up to limit engagements of a workspace in creation order after the sequence number
        after_seq. Each row carries its `_seq` (never reused) for the next cursor."""
        where = "WHERE workspace = ? AND seq > ?"
        params: list[Any] = [workspace, after_seq]
        if updated_gte is not None:
            where += " AND updated_at >= ?"
            params.append(updated_gte)
        return self._select_v2(f"{where} ORDER BY seq LIMIT ?", (*params, limit))

    def _select_v2(self, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._connect().execute(
                f"SELECT seq AS _seq, {_V2_COLUMNS} FROM v2_engagements {where}", params
            )
            return [_decode(r, _V2_JSON, _V2_BOOL) for r in cur.fetchall()]

    def v2_engagements(self, workspace: int | None = None) -> list[dict[str, Any]]:
        """Every stored v2 engagement row incl. external_id (of one workspace when given), in
        creation order."""
        rows = self._select_v2("ORDER BY seq", ())
        for row in rows:
            del row["_seq"]
        return [r for r in rows if workspace is None or r["workspace"] == workspace]

    def count_v2(self, workspace: int | None = None) -> int:
        """How many v2 engagements are stored (in one workspace when given)."""
        return len(self.v2_engagements(workspace)) if workspace is not None else self._count("v2")
