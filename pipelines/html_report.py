"""`engagement-sync report --html FILE` (and `sync --report FILE`): one self-contained HTML page
from the staging, viewable with no network: inline CSS, JS and SVG, no external reference.

Not pipelines/report.py, which renders the CLI's tables. The figures come from report_data.py,
the records' stories (the search box) from report_stories.py, embedded as JSON and capped at
`stories` records; the page says how many of how many it holds. The page holds what the
staging holds, personal data included: keep it where the staging may be.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from pipelines import svg_charts
from pipelines.report_data import gather
from pipelines.report_stories import stories

TEMPLATE = Path(__file__).with_name("html_report.html")
STATES = ("created", "existing", "updated", "api_rejected", "pending", "unknown", "drifted")
DEFAULT_STORIES = 1000
STORY_BYTES = 2500  # about what one story takes in the page (bench: the twilio sample)


def write_report(staging: Path, out: Path, limit: int = DEFAULT_STORIES) -> dict[str, Any]:
    """Write the page to `out` (atomically: a half-written page never replaces a good one)."""
    data = gather(staging)
    embedded, total = stories(staging, limit)
    page = render(data, embedded, total, datetime.now(UTC))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return {
        "report": str(out),
        "bytes": len(page.encode()),
        "stories": len(embedded),
        "records": total,
    }


def render(data: dict[str, Any], embedded: dict[str, Any], total: int, now: datetime) -> str:
    """The whole page: the template with the sections and the stories' JSON put in."""
    head, rest = TEMPLATE.read_text(encoding="utf-8").split("{{BODY}}")
    middle, tail = rest.split("{{STORIES}}")
    body = "".join(
        [
            _header(data, now),
            _states(data["states"]),
            _rejections(data["rejections"]),
            _sends(data["sends"]),
            _latency(data["latency"]),
            _errors(data["errors"]),
            _search(len(embedded), total),
        ]
    )
    return head + body + middle + _script_json(embedded) + tail


def _script_json(value: Any) -> str:
    """JSON that cannot end its <script> element early, whatever the strings hold."""
    text = json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


Names = Callable[[int, int], str | None]


def _table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], names: Names | None = None
) -> str:
    """A table; a cell that `names(row, column)` names carries data-figure="<name>" (the tests
    and any script read the figures there)."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for r, row in enumerate(rows):
        cells = []
        for c, value in enumerate(row):
            name = names(r, c) if names else None
            attr = f' data-figure="{escape(name)}"' if name else ""
            num = " class=num" if isinstance(value, int | float) else ""
            cells.append(f"<td{attr}{num}>{_cell(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _column(named: dict[int, str]) -> Names:
    """Names for whole columns: {column index: name}."""
    return lambda _r, c: named.get(c)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "<br>".join(escape(str(v)) for v in value)
    return escape(str(value))


def _section(key: str, title: str, content: str, note: str = "") -> str:
    extra = f'<p class="note">{escape(note)}</p>' if note else ""
    return f'<section id="{key}"><h2>{escape(title)}</h2>{extra}{content}</section>'


def _header(data: dict[str, Any], now: datetime) -> str:
    counts = data["counts"]
    cards = "".join(
        f'<div class="card"><b data-figure="count:{k}">{counts[k]}</b><span>{escape(label)}'
        "</span></div>"
        for k, label in (
            ("calls", "calls"),
            ("meetings", "meetings"),
            ("rejected_records", "rejections"),
            ("v1_requests", "v1 requests"),
            ("v2_requests", "v2 requests"),
            ("sends", "sends"),
            ("runs", "runs"),
        )
    )
    return (
        f"<header><h1>engagement-sync run report</h1><p>staging <code>"
        f"{escape(data['staging'])}</code> · written {now:%Y-%m-%d %H:%M:%S} UTC</p>"
        f'<div class="cards">{cards}</div></header>'
    )


def _states(states: list[dict[str, Any]]) -> str:
    if not states:
        return _section("states", "Records by state", "<p>Nothing staged yet.</p>")
    parts = []
    for s in states:
        segments = [(state, int(s.get(state, 0))) for state in STATES]
        named = [f"state:{s['target']}:{s['destination']}:{state}" for state in STATES]
        parts.append(
            f"<h3>{escape(s['target'])} → <code>{escape(s['destination'])}</code></h3>"
            + svg_charts.stacked_bar(segments)
            + _table(STATES, [[n for _, n in segments]], _column(dict(enumerate(named))))
        )
    legend = "".join(
        f'<span class="key" style="background:{svg_charts.COLORS[s]}"></span>{s} ' for s in STATES
    )
    return _section(
        "states",
        "Records by state, per target and destination",
        f"<p>{legend}</p>" + "".join(parts),
    )


def _rejections(rejections: list[dict[str, Any]]) -> str:
    if not rejections:
        return _section("rejections", "Rejections by reason", "<p>No rejections.</p>")
    chart = svg_charts.hbars([(f"{r['target']}: {r['reason']}", r["n"]) for r in rejections[:15]])
    table = _table(
        ["target", "reason", "records", "example", "where", "field", "message"],
        [
            [
                r["target"],
                r["reason"],
                r["n"],
                r["example_id"],
                f"{r['example_file']} row {r['example_row']}",
                r["example_field"],
                r["example_message"],
            ]
            for r in rejections
        ],
        lambda r, c: (
            f"rejected:{rejections[r]['target']}:{rejections[r]['reason']}" if c == 2 else None
        ),
    )
    return _section("rejections", "Rejections by reason", chart + table)


_RUN_FIGURES = {3: "sends", 5: "throttled", 6: "retries"}


def _sends(sends: dict[str, Any]) -> str:
    if not sends["runs"]:
        return _section("sends", "Sends over time", "<p>Nothing was sent yet.</p>")
    width = sends["width"]
    n = max(r["bucket"] for r in sends["series"]) + 1
    series: dict[str, list[int]] = {}
    marks = {"throttled": [0] * n, "retries": [0] * n}
    for r in sends["series"]:
        series.setdefault(r["target"], [0] * n)[r["bucket"]] += r["sends"]
        marks["throttled"][r["bucket"]] += r["throttled"]
        marks["retries"][r["bucket"]] += r["retries"]
    chart = svg_charts.columns(series, marks, width)
    legend = "".join(
        f'<span class="key" style="background:{svg_charts.COLORS[k]}"></span>{label} '
        for k, label in (*((t, t) for t in series), ("throttled", "429s"), ("retries", "retries"))
    )
    runs = _table(
        ["run", "started (UTC)", "targets", "sends", "per second", "429s", "retries"],
        [
            [
                r["run_id"][:12],
                f"{r['started']:%Y-%m-%d %H:%M:%S}",
                ", ".join(r["targets"]),
                r["sends"],
                r["rate"],
                r["throttled"],
                r["retries"],
            ]
            for r in sends["runs"]
        ],
        lambda r, c: (
            f"run:{sends['runs'][r]['run_id']}:{_RUN_FIGURES[c]}" if c in _RUN_FIGURES else None
        ),
    )
    note = f"Latest run that sent: {sends['run'][:12]}, in buckets of {width:g} s."
    return _section("sends", "Sends over time", f"<p>{legend}</p>{chart}{runs}", note)


def _latency(latency: list[dict[str, Any]]) -> str:
    if not latency:
        return _section("latency", "Latency", "<p>No send has an outcome yet.</p>")
    chart = svg_charts.hbars(
        [(f"{r['target']} {p}", int(r[p] * 1000)) for r in latency for p in ("p50", "p90", "p99")],
        color="#3f51b5",
    )
    table = _table(
        ["target", "sends", "p50 s", "p90 s", "p99 s", "max s"],
        [[r["target"], r["sends"], r["p50"], r["p90"], r["p99"], r["max"]] for r in latency],
    )
    note = "From each send's intent to its outcome in the ledger (chart in milliseconds)."
    return _section("latency", "Latency percentiles", chart + table, note)


def _errors(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return _section("errors", "Top API errors", "<p>No API error.</p>")
    table = _table(
        ["target", "HTTP", "code", "message", "times", "request ids", "example", "last seen"],
        [
            [
                e["target"],
                e["http_status"],
                e["error_code"],
                e["error"],
                e["n"],
                e["request_ids"],
                e["example_id"],
                f"{e['last_seen']:%Y-%m-%d %H:%M:%S}",
            ]
            for e in errors
        ],
        _column({4: "api_error"}),
    )
    return _section("errors", "Top API errors", table)


def _search(embedded: int, total: int) -> str:
    if embedded < total:
        note = (
            f"Stories of {embedded} of {total} records are in this page (those with a "
            "rejection, an API error or an unknown outcome first, then the most recent; about "
            f"{STORY_BYTES // 1000} KB each: `report --stories N` changes the cap). Any "
            "record's story: engagement-sync explain EXTERNAL_ID."
        )
    else:
        note = f"The stories of all {total} records are in this page."
    box = (
        '<input id="q" type="search" placeholder="external id, e.g. twilio:CA…" '
        'autocomplete="off"><div id="matches"></div><div id="story"></div>'
    )
    return _section("search", "One record's story", box, note)
