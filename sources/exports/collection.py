"""What a reader hands on: named collections of all-string rows, and the rows it refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

ROW_COL = "_source_row"  # set by the reader only when it dropped rows, so numbers stay true
# A cell over this is no call field (a transcript fits: v2 takes 950,000 bytes): the row is
# rejected (field_too_large) so that one hostile cell cannot multiply through the stage.
FIELD_LIMIT_BYTES = 2 << 20
SHOWN_BYTES = 2_000  # of a refused line kept in rejected_records.raw


@dataclass(frozen=True)
class LineProblem:
    """One row of a file that cannot be read, while the rest of the file can."""

    row: int  # the data row (1-based; a CSV's line is row + 1 unless cells hold newlines)
    reason: str  # ragged_line, bad_encoding, field_too_large, unreadable_row
    field: str
    message: str
    raw: Any


@dataclass(frozen=True)
class Collection:
    name: str  # "calls", "recordings", … or "rows" when the file does not say
    rows: pa.Table  # all columns string (and ROW_COL when rows were dropped)
    problems: tuple[LineProblem, ...] = ()  # rows dropped from `rows`, each with its reason
