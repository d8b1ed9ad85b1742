"""Small inline SVG charts for the HTML report: pure functions from figures to markup.

Every label is escaped; sizes are fixed so the page lays out the same in any browser, and a
chart carries its figures as <title> tooltips and in the table beside it (charts are for
looking, the tables for reading exact numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

COLORS = {
    "created": "#2e7d32",
    "existing": "#66bb6a",
    "updated": "#1565c0",
    "api_rejected": "#c62828",
    "pending": "#9e9e9e",
    "unknown": "#f9a825",
    "drifted": "#6a1b9a",
    "v1": "#ff7a59",  # HubSpot orange
    "v2": "#3f51b5",
    "throttled": "#c62828",
    "retries": "#f9a825",
}


def stacked_bar(segments: Sequence[tuple[str, int]], width: int = 1056, height: int = 22) -> str:
    """One horizontal bar split by state, each part as wide as its share."""
    total = sum(n for _, n in segments) or 1
    x, parts = 0.0, []
    for label, n in segments:
        if n <= 0:
            continue
        w = width * n / total
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" '
            f'fill="{COLORS.get(label, "#607d8b")}"><title>{escape(label)}: {n}</title></rect>'
        )
        x += w
    return _svg(width, height, "".join(parts), "records by state")


def hbars(items: Sequence[tuple[str, int]], width: int = 760, color: str = "#c62828") -> str:
    """Horizontal bars, one per item, labelled on the left, counted on the right."""
    if not items:
        return ""
    row, label_w, count_w = 20, 200, 60
    top = max(n for _, n in items) or 1
    body = []
    for i, (label, n) in enumerate(items):
        y = i * row
        w = (width - label_w - count_w) * n / top
        body.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(_cut(label, 30))}'
            f'</text><rect x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 6}" '
            f'fill="{color}"><title>{escape(label)}: {n}</title></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{n}</text>'
        )
    return _svg(width, row * len(items), "".join(body), "counts by reason")


def columns(
    series: dict[str, list[int]],
    marks: dict[str, list[int]],
    bucket_s: float,
    width: int = 1056,
    height: int = 220,
) -> str:
    """Sends per bucket, one column per target side by side; 429s and retries as marks under
    the axis (red and amber ticks, height by count). x: seconds since the run's first row."""
    n = max((len(v) for v in series.values()), default=0)
    if n == 0:
        return ""
    left, bottom, marks_h, right = 40, 36, 24, 30
    plot_h = height - bottom - marks_h
    top = max((max(v, default=0) for v in series.values()), default=0) or 1
    slot = (width - left - right) / n
    bar = slot / max(len(series), 1) * 0.85
    body = [_axis(left, plot_h, width, top)]
    for k, (target, values) in enumerate(series.items()):
        for i, v in enumerate(values):
            if v:
                h = plot_h * v / top
                x = left + i * slot + k * bar
                body.append(
                    f'<rect x="{x:.1f}" y="{plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                    f'fill="{COLORS.get(target, "#607d8b")}"><title>{escape(target)} '
                    f"{_when(i, bucket_s)}: {v} sends ({v / bucket_s:.1f}/s)</title></rect>"
                )
    mark_top = max((max(v, default=0) for v in marks.values()), default=0) or 1
    for k, (name, values) in enumerate(marks.items()):
        for i, v in enumerate(values):
            if v:
                h = (marks_h - 4) * v / mark_top + 2
                x = left + i * slot + k * slot / 2
                body.append(
                    f'<rect x="{x:.1f}" y="{plot_h + 4}" width="{max(slot / 2 - 1, 1):.1f}" '
                    f'height="{h:.1f}" fill="{COLORS[name]}"><title>{name} '
                    f"{_when(i, bucket_s)}: {v}</title></rect>"
                )
    for i in range(0, n, max(1, n // 6)):
        body.append(f'<text x="{left + i * slot:.1f}" y="{height - 4}">{_when(i, bucket_s)}</text>')
    return _svg(width, height, "".join(body), "sends over time")


def _axis(left: int, plot_h: float, width: int, top: int) -> str:
    return (
        f'<line x1="{left}" y1="{plot_h}" x2="{width}" y2="{plot_h}" stroke="#555"/>'
        f'<text x="{left - 4}" y="12" text-anchor="end">{top}</text>'
        f'<text x="{left - 4}" y="{plot_h}" text-anchor="end">0</text>'
    )


def _when(i: int, bucket_s: float) -> str:
    s = i * bucket_s
    return f"+{s:g}s" if s < 120 else f"+{s / 60:g}m" if s < 7200 else f"+{s / 3600:g}h"


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{label}">{body}</svg>'
    )
