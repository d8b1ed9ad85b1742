"""What any canonical record must satisfy before a request is built, whatever its preset.

Pure. A time outside 2000-2100 or a duration that is negative or over a week is a unit slip
(ms read as seconds, µs as ms) or a corrupt value: the record is rejected
(`timestamp_out_of_range`, `bad_duration`, target NULL), since neither target could take it,
and the run goes on. `assemble` (canonical.py) clamps times to what Python's datetime can
hold first, so no value can abort a stage with an OverflowError.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from sources.engagements.rules import MAX_DURATION_MS, MS_2000, MS_2100
from sources.exports.canonical import RowRejection

TIME_FIELDS = ("started_at", "ended_at")


def check_records(records: pa.Table) -> tuple[pa.Table, list[RowRejection]]:
    """The records that pass, and one rejection for each that does not (a wrong duration
    first: it also makes a derived end time wrong)."""
    duration = records["duration_ms"]
    wrong = pc.or_(pc.less(duration, 0), pc.greater(duration, MAX_DURATION_MS))
    records, rejections = _split(
        records,
        wrong,
        "bad_duration",
        "duration_ms",
        f"is not between 0 and {MAX_DURATION_MS} ms (7 days, policy): check the duration "
        "column's unit",
    )
    for name in TIME_FIELDS:
        ms = pc.cast(pc.cast(records[name], pa.timestamp("ms", tz="UTC"), safe=False), pa.int64())
        out = pc.or_(pc.less(ms, MS_2000), pc.greater_equal(ms, MS_2100))
        records, bad = _split(
            records,
            out,
            "timestamp_out_of_range",
            name,
            "is not a time between 2000 and 2100 (policy): check the time column's unit "
            "(seconds, ms, µs)",
        )
        rejections += bad
    return records, rejections


def _split(
    records: pa.Table, mask: pa.ChunkedArray, reason: str, name: str, says: str
) -> tuple[pa.Table, list[RowRejection]]:
    mask = pc.fill_null(mask, False)
    bad = records.filter(mask).select(["external_id", "source_file", "source_row", name])
    rejections = [
        RowRejection(
            reason,
            name,
            f"{name}={_shown(row[name])} {says}",
            row["source_file"] or "",
            row["source_row"] or 0,
            {"external_id": row["external_id"], name: _shown(row[name])},
            row["external_id"],
        )
        for row in bad.to_pylist()
    ]
    return records.filter(pc.invert(mask)), rejections


def _shown(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
