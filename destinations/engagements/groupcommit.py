"""Group commit for the ledger: rows from many sender threads written in one statement.

Every caller blocks until its own row is committed, so "intent committed before the send"
still holds for each record; rows that arrive while a batch is being written go into the next
batch. One INSERT of an Arrow batch costs about what one single-row INSERT does, so throughput
no longer falls to one ledger write at a time (~2.5 ms each) when senders run in parallel.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

LEDGER_COLUMNS = pa.schema(
    [
        ("run_id", pa.string()),
        ("pid", pa.int32()),
        ("destination", pa.string()),
        ("target", pa.string()),
        ("external_id", pa.string()),
        ("phase", pa.string()),
        ("state", pa.string()),
        ("content_hash", pa.string()),
        ("request_body", pa.string()),
        ("run_workflows", pa.bool_()),
        ("http_status", pa.int32()),
        ("engagement_id", pa.string()),
        ("error_code", pa.string()),
        ("error", pa.string()),
        ("request_id", pa.string()),
        ("note", pa.string()),
        ("operation", pa.string()),
    ]
)


@dataclass
class _Pending:
    row: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupCommit:
    """Appends ledger rows from any thread; `write` returns once the row is committed."""

    def __init__(self, con: duckdb.DuckDBPyConnection, lock: threading.Lock) -> None:
        self._con, self._lock = con, lock
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    def write(self, row: dict[str, Any]) -> None:
        pending = _Pending(row)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error

    def write_many(self, rows: list[dict[str, Any]]) -> None:
        """Commit many rows as one batch (one INSERT), returning once they are committed."""
        batch = [_Pending(row) for row in rows]
        self._commit(batch)
        if batch and batch[0].error is not None:
            raise batch[0].error

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stop = False
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Pending]) -> None:
        error: BaseException | None = None
        try:
            table = pa.Table.from_pylist([p.row for p in batch], schema=LEDGER_COLUMNS)
            names = ", ".join(LEDGER_COLUMNS.names)
            with self._lock:
                self._con.register("_ledger_batch", table)
                try:
                    self._con.execute(
                        f"INSERT INTO engagements.deliveries ({names}) "
                        f"SELECT {names} FROM _ledger_batch"
                    )
                finally:
                    self._con.unregister("_ledger_batch")
        except BaseException as exc:  # handed to every waiting writer, who raises it
            error = exc
        for pending in batch:
            pending.error = error
            pending.done.set()
