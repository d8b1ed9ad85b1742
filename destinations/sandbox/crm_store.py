"""sqlite storage of the CRM objects API, mixed into Store: one table of objects per portal.

Calls and meetings are the v1_engagements rows of type CALL / MEETING (docs/hubspot_objects.md
A1); their objects-API-only properties live in its `properties` JSON column (crm_mapping.py).
crm_unique indexes the values of unique-value properties (A11) so that a conflict is decided
inside the writing transaction; crm_property_defs / crm_property_groups hold the portal's
custom properties and groups (the built-in ones are crm_schema constants).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from .crm_mapping import apply_properties, new_row, properties_of
from .crm_schema import OBJECT_TYPES

CRM_SCHEMA = """
CREATE TABLE IF NOT EXISTS crm_unique (
    portal_id INTEGER NOT NULL, object_type TEXT NOT NULL, name TEXT NOT NULL,
    value TEXT NOT NULL, object_id INTEGER NOT NULL,
    PRIMARY KEY (portal_id, object_type, name, value)
);
CREATE INDEX IF NOT EXISTS crm_unique_object ON crm_unique (object_id, name);
CREATE INDEX IF NOT EXISTS crm_unique_lower
    ON crm_unique (portal_id, object_type, name, lower(value));
CREATE TABLE IF NOT EXISTS crm_property_defs (
    portal_id INTEGER NOT NULL, object_type TEXT NOT NULL, name TEXT NOT NULL,
    definition TEXT NOT NULL, PRIMARY KEY (portal_id, object_type, name)
);
CREATE TABLE IF NOT EXISTS crm_property_groups (
    portal_id INTEGER NOT NULL, object_type TEXT NOT NULL, name TEXT NOT NULL,
    definition TEXT NOT NULL, PRIMARY KEY (portal_id, object_type, name)
);
"""
CRM_TABLES = ("crm_unique", "crm_property_defs", "crm_property_groups")


@dataclass
class Write:
    """One object to create (object_id None) or update, with validated property values."""

    properties: dict[str, str]
    object_id: int | None = None
    associations: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class Outcome:
    """What became of one Write: created / updated (row) or conflict (the unique property)."""

    status: str
    row: dict[str, Any] | None = None
    conflict: str | None = None


class _Rollback(Exception):
    """Raised inside an all-or-nothing transaction to undo it."""


class CrmStoreMixin:
    """The CRM part of Store; relies on Store's _tx, _lock, _connect, _select_v1, _created."""

    _tx: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _select_v1: Callable[[str, tuple[Any, ...]], list[dict[str, Any]]]
    _created: Callable[[str], None]

    def _crm_rows(self, portal: int, object_type: str, where: str, params: tuple) -> list[dict]:
        kind = OBJECT_TYPES[object_type]
        return self._select_v1(f"WHERE portal_id = ? AND type = ? {where}", (portal, kind, *params))

    def crm_get(self, portal: int, object_type: str, ids: list[int]) -> dict[int, dict]:
        """Stored rows by object id (only those of the portal and type)."""
        marks = ", ".join("?" for _ in ids) or "NULL"
        rows = self._crm_rows(portal, object_type, f"AND id IN ({marks})", tuple(ids))
        return {r["id"]: r for r in rows}

    def crm_by_unique(
        self, portal: int, object_type: str, name: str, values: list[str]
    ) -> dict[str, dict]:
        """Stored rows by the exact value of a unique-value property."""
        marks = ", ".join("?" for _ in values) or "NULL"
        with self._tx() as conn:
            found = conn.execute(
                "SELECT value, object_id FROM crm_unique WHERE portal_id = ? AND object_type = ?"
                f" AND name = ? AND value IN ({marks})",
                (portal, object_type, name, *values),
            ).fetchall()
        rows = self.crm_get(portal, object_type, [r[1] for r in found])
        return {r[0]: rows[r[1]] for r in found if r[1] in rows}

    def crm_searchable(
        self, portal: int, object_type: str, before_ms: int, ids: list[int] | None = None
    ) -> list[dict]:
        """Rows last written at or before before_ms (the search index lags, note A8), by id;
        only those of `ids` when given."""
        where = "AND last_updated <= ?"
        if ids is not None:
            where += f" AND id IN ({', '.join('?' for _ in ids) or 'NULL'})"
        params = (before_ms, *(ids or ()))
        return self._crm_rows(portal, object_type, f"{where} ORDER BY id", params)

    def crm_unique_ids(
        self, portal: int, object_type: str, name: str, lowered: list[str]
    ) -> list[int]:
        """Objects whose unique property `name` equals one of the values, ignoring case."""
        marks = ", ".join("?" for _ in lowered) or "NULL"
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT object_id FROM crm_unique WHERE portal_id = ? AND object_type = ?"
                f" AND name = ? AND lower(value) IN ({marks})",
                (portal, object_type, name, *lowered),
            ).fetchall()
        return [r[0] for r in rows]

    def crm_write(
        self, portal: int, object_type: str, writes: list[Write], now_ms: int, atomic: bool
    ) -> list[Outcome]:
        """Apply writes in one transaction; atomic: one unique conflict undoes them all."""
        outcomes: list[Outcome] = []
        try:
            with self._tx() as conn:
                unique = self._unique_names(conn, portal, object_type)
                for write in writes:
                    outcomes.append(
                        self._write_one(conn, portal, object_type, write, unique, now_ms)
                    )
                if atomic and any(o.status == "conflict" for o in outcomes):
                    raise _Rollback
        except _Rollback:
            return [o if o.status == "conflict" else Outcome("not_written") for o in outcomes]
        for outcome in outcomes:
            if outcome.status == "created":
                self._created("hubspot")
        return outcomes

    def _write_one(
        self, conn: sqlite3.Connection, portal: int, object_type: str, write: Write,
        unique: set[str], now_ms: int,
    ) -> Outcome:  # fmt: skip
        for name in unique & write.properties.keys():
            value = write.properties[name]
            other = conn.execute(
                "SELECT object_id FROM crm_unique WHERE portal_id = ? AND object_type = ?"
                " AND name = ? AND value = ?",
                (portal, object_type, name, value),
            ).fetchone()
            if value and other is not None and other[0] != write.object_id:
                return Outcome("conflict", conflict=name)
        if write.object_id is None:
            row = new_row(object_type, portal, write.properties, write.associations, now_ms)
            row["id"] = self._insert_row(conn, row)
            status = "created"
        else:
            old = self._crm_rows(portal, object_type, "AND id = ?", (write.object_id,))[0]
            row = apply_properties(object_type, old, write.properties, now_ms)
            conn.execute(
                "UPDATE v1_engagements SET timestamp = ?, owner_id = ?, last_updated = ?,"
                " metadata = ?, properties = ? WHERE id = ?",
                (row["timestamp"], row["owner_id"], row["last_updated"],
                 json.dumps(row["metadata"]), json.dumps(row["properties"]), row["id"]),
            )  # fmt: skip
            status = "updated"
        for name in unique & write.properties.keys():
            conn.execute(
                "DELETE FROM crm_unique WHERE object_id = ? AND name = ?", (row["id"], name)
            )
            if write.properties[name]:
                conn.execute(
                    "INSERT INTO crm_unique VALUES (?, ?, ?, ?, ?)",
                    (portal, object_type, name, write.properties[name], row["id"]),
                )
        return Outcome(status, row)

    @staticmethod
    def _insert_row(conn: sqlite3.Connection, row: dict[str, Any]) -> int:
        cur = conn.execute(
            "INSERT INTO v1_engagements (portal_id, type, timestamp, owner_id, active, created_at,"
            " last_updated, associations, attachments, metadata, properties)"
            " VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
            (row["portal_id"], row["type"], row["timestamp"], row["owner_id"], row["created_at"],
             row["last_updated"], json.dumps(row["associations"]), json.dumps(row["attachments"]),
             json.dumps(row["metadata"]), json.dumps(row["properties"])),
        )  # fmt: skip
        assert cur.lastrowid is not None
        return cur.lastrowid

    # ---- properties and groups --------------------------------------------------------------

    @staticmethod
    def _unique_names(conn: sqlite3.Connection, portal: int, object_type: str) -> set[str]:
        rows = conn.execute(
            "SELECT name, definition FROM crm_property_defs"
            " WHERE portal_id = ? AND object_type = ?",
            (portal, object_type),
        ).fetchall()
        return {r[0] for r in rows if json.loads(r[1]).get("hasUniqueValue")}

    def crm_definitions(self, table: str, portal: int, object_type: str) -> list[dict[str, Any]]:
        """The portal's custom properties or groups (table crm_property_defs/_groups)."""
        assert table in CRM_TABLES
        with self._tx() as conn:
            rows = conn.execute(
                f"SELECT definition FROM {table} WHERE portal_id = ? AND object_type = ?"
                " ORDER BY rowid",
                (portal, object_type),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def crm_define(
        self, table: str, portal: int, object_type: str, definition: dict[str, Any]
    ) -> bool:
        """Add a custom property or group; False when one of that name exists (nothing set)."""
        assert table in CRM_TABLES
        with self._tx() as conn:
            cur = conn.execute(
                f"INSERT INTO {table} VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (portal, object_type, definition["name"], json.dumps(definition)),
            )
            return cur.rowcount == 1

    # ---- helpers for tests ------------------------------------------------------------------

    def crm_objects(self, portal: int, object_type: str = "calls") -> list[dict[str, Any]]:
        """A portal's calls or meetings as {id, properties, associations}, by id (v1 ones too)."""
        return [
            {"id": r["id"], "properties": properties_of(object_type, r),
             "associations": r["associations"]}
            for r in self._crm_rows(portal, object_type, "ORDER BY id", ())
        ]  # fmt: skip

    def count_by_property(
        self, portal: int, name: str, value: str, object_type: str | None = None
    ) -> int:
        """How many calls/meetings of a portal hold property name == value (exactly)."""
        types = [object_type] if object_type else list(OBJECT_TYPES)
        return sum(
            1
            for kind in types
            for obj in self.crm_objects(portal, kind)
            if obj["properties"].get(name) == value
        )
