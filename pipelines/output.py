"""Output for machines and people: JSON Lines on stdout, tables that never cut a figure, and
stderr logging as text or JSON (`--log-format`, `--log-level`).

A command's result is one JSON object on one line (`sync --json >> logs/sync.jsonl` parses line
by line); a failed run writes one too, with `error`, `exit_code` and `fix`. Tables print at the
width they need outside a terminal (cron, CI, a pipe); in a narrow terminal their headers are
abbreviated, never a figure.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

log = logging.getLogger("engagement_sync")

# Attributes every LogRecord has; anything else was passed in `extra` and is a field of the line.
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def json_line(data: Any) -> str:
    """One JSON value on one line (no newline inside, whatever the strings hold)."""
    return json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":"))


def emit_json(data: Any, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    out.write(json_line(data) + "\n")
    out.flush()


def emit_json_lines(rows: Sequence[Any]) -> None:
    """One line per item (`sql --json`: one object per row)."""
    for row in rows:
        sys.stdout.write(json_line(row) + "\n")
    sys.stdout.flush()


def split_fix(message: str) -> tuple[str, str | None]:
    """(what happened, what to do) from a one-line message written as `what; fix`."""
    what, sep, fix = message.rpartition("; ")
    return (what, fix) if sep else (message, None)


def error_object(message: str, exit_code: int, **extra: Any) -> dict[str, Any]:
    what, fix = split_fix(message)
    return {"error": what, "exit_code": exit_code, "fix": fix, **extra}


# --- tables ------------------------------------------------------------------------------


def _cells(rows: Sequence[Sequence[Any]]) -> list[list[str]]:
    return [["" if v is None else str(v) for v in row] for row in rows]


def _widths(columns: Sequence[str], cells: list[list[str]]) -> list[int]:
    """The width each column's values need (headers are not counted: they may be shortened)."""
    return [max([len(r[i]) for r in cells] or [0]) for i in range(len(columns))]


def abbreviate(header: str, width: int) -> str:
    """`header` in at most max(width, 3) characters; a cut one ends with a dot."""
    room = max(width, 3)
    return header if len(header) <= room else header[: room - 1] + "."


def boxed_width(widths: Sequence[int]) -> int:
    """What rich's default box needs: one space of padding each side and a rule per column."""
    return sum(w + 3 for w in widths) + 1


def plain_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Aligned text at the width it needs: the first column left, the figures right."""
    cells = _cells(rows)
    widths = [max(w, len(c)) for w, c in zip(_widths(columns, cells), columns, strict=True)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [title] if title else []
    out += [line(columns), *(line(r) for r in cells)]
    return "\n".join(out)


def fitted_headers(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int) -> list[str]:
    """Headers that let the boxed table fit in `width`: whole when they fit, else abbreviated
    to the width of their figures (which are never cut)."""
    widths = _widths(columns, _cells(rows))
    whole = [max(w, len(c)) for w, c in zip(widths, columns, strict=True)]
    if boxed_width(whole) <= width:
        return list(columns)
    return [abbreviate(c, w) for c, w in zip(columns, widths, strict=True)]


def _print_plain(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)  # never wrapped or cut


def render_table(
    console: Console, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Plain aligned text outside a terminal; a boxed table in one, headers shortened first."""
    if not console.is_terminal:
        _print_plain(console, plain_table(title, columns, rows))
        return
    headers = fitted_headers(columns, rows, console.width)
    cells = _cells(rows)
    needed = [max(w, len(h)) for w, h in zip(_widths(columns, cells), headers, strict=True)]
    if boxed_width(needed) > console.width:  # even abbreviated it does not fit: no box
        _print_plain(console, plain_table(title, headers, rows))
        return
    table = Table(title=title or None, title_justify="left")
    for i, (name, w) in enumerate(zip(headers, needed, strict=True)):
        table.add_column(
            name, justify="left" if i == 0 else "right", min_width=w, no_wrap=True, overflow="fold"
        )
    for row in cells:
        table.add_row(*row)
    console.print(table)


# --- stderr logging ----------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg and the record's `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json_line(data)


class TextFormatter(logging.Formatter):
    """`level: message`, one line (errors read `error: …`); the message says it all."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(fmt: str = "text", level: str = "info", stream: TextIO | None = None) -> None:
    """Route engagement-sync's and the libraries' logs to stderr in one format; retries are
    logged one line per record (retries.py)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_engagement_sync", False)]:
        root.removeHandler(old)
    handler._engagement_sync = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    chosen = getattr(logging, level.upper())
    root.setLevel(max(chosen, logging.WARNING) if chosen > logging.DEBUG else chosen)
    log.setLevel(chosen)  # ours at the chosen level; the libraries' from warnings up
    from pipelines.retries import install_retry_log

    install_retry_log()
