"""Re-reading files: a fixed file leaves no stale rejections, and a keying change never re-keys
what is staged (issue 15, points 7 and 8). Real stage pipeline into a temp DuckDB file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from pipelines.jobs import make_job
from pipelines.stage import stage

HEADER = "sid,parent_call_sid,from,to,direction,status,start_time,end_time,duration"


def query(staging: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(staging)) as con:
        return con.execute(sql).fetchall()


def _write(path: Path, lines: list[str], bump: int) -> None:
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + bump))  # a later modification time


def _row(i: int, start: str = "2024-03-02T19:17:33Z") -> str:
    return f"CA{i:032x},,+12125559774,+14155551121,inbound,completed,{start},,60"


def _per_file(staging: Path, name: str) -> tuple[int, int]:
    [(staged,)] = query(
        staging, f"SELECT count(*) FROM engagements.calls WHERE source_file = '{name}'"
    )
    [(rejected,)] = query(
        staging,
        "SELECT count(*) FROM engagements.rejected_records "
        f"WHERE target IS NULL AND source_file = '{name}'",
    )
    return staged, rejected


def test_a_fixed_file_leaves_no_stale_rejections(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    staging = tmp_path / "s.duckdb"
    job = make_job("calls", {"preset": "twilio", "path": str(exports), "allow_unassociated": True})
    csv_file = exports / "calls.csv"
    good = [_row(i) for i in range(1, 6)]
    broken = [_row(i, "not a time") for i in range(1, 4)] + good[3:]
    edits = [
        broken,  # rows 1-3 broken
        good,  # all fixed
        [*good[:1], _row(2, "still not a time"), *good[2:]],  # row 2 broken again: rejected
        good,  # and fixed again
    ]
    for n, lines in enumerate(edits):
        _write(csv_file, lines, bump=5 * n)
        [report] = stage(staging, [job])
        assert report.read == report.staged + report.folded + report.rejected == 5
        staged, rejected = _per_file(staging, "calls.csv")
        assert rejected == report.rejected  # this read's rejections, none left from before
        if n != 2:  # (a record staged before its row broke stays staged: see the note)
            assert staged + report.folded + rejected == len(lines)
    [(total,)] = query(staging, "SELECT count(*) FROM engagements.rejected_records")
    [(calls,)] = query(staging, "SELECT count(*) FROM engagements.calls")
    assert (calls, total) == (5, 5)  # v2 only: no recordings (no_media_url); no row rejections


def _rc_record(session: str, tsid: str | None) -> dict[str, object]:
    record: dict[str, object] = {
        "id": "ASaxDDkSZ5s42MA",
        "sessionId": session,
        "startTime": "2023-04-10T23:58:47.594Z",
        "duration": 65,
        "type": "Voice",
        "direction": "Inbound",
        "result": "Accepted",
        "from": {"phoneNumber": "12055550123"},  # NANP written without the plus
        "to": {"phoneNumber": "+16505550199"},
    }
    if tsid is not None:
        record["telephonySessionId"] = tsid
    return record


def test_a_later_export_with_more_fields_keeps_the_staged_external_id(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    staging = tmp_path / "s.duckdb"
    job = make_job(
        "rc", {"preset": "ringcentral", "path": str(exports), "allow_unassociated": True}
    )
    first = exports / "early.json"
    first.write_text(json.dumps({"records": [_rc_record("404611540004", None)]}))
    stage(staging, [job])
    assert query(staging, "SELECT external_id, from_phone FROM engagements.calls") == [
        ("ringcentral:404611540004", "+12055550123")
    ]
    later = exports / "later.json"  # the same call, exported later with telephonySessionId
    later.write_text(json.dumps({"records": [_rc_record("404611540004", "s-a1b2c3")]}))
    stage(staging, [job])
    assert query(staging, "SELECT external_id, source_id FROM engagements.calls") == [
        ("ringcentral:404611540004", "404611540004")
    ]
    assert query(staging, "SELECT source_key, external_id FROM engagements.source_keys") == [
        ("s-a1b2c3", "ringcentral:404611540004")
    ]
    # The staging remembers the key: a third export keyed only by it still lands on the record.
    third = _rc_record("404611540099", "s-a1b2c3")  # (another leg's sessionId)
    (exports / "third.json").write_text(json.dumps({"records": [third]}))
    stage(staging, [job])
    [(n,)] = query(staging, "SELECT count(*) FROM engagements.calls")
    assert n == 1
