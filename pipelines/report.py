"""Rendering results for people (tables, output.py) and machines (--json: JSON Lines), from
the same dicts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from pipelines.output import emit_json, emit_json_lines, render_table

console = Console()
err_console = Console(stderr=True)

__all__ = ["emit_json", "emit_json_lines"]


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    render_table(console, title, columns, rows)


def no_staging(staging: Path, json: bool, command: str) -> None:
    """A dry run or a look at a staging that does not exist yet: say so, create nothing."""
    message = f"no staging file at {staging} yet: run `engagement-sync stage` first"
    if json:
        emit_json({command: [], "staging": str(staging), "exists": False, "note": message})
    else:
        console.print(message, markup=False, highlight=False)


def purge_plan(plan: dict[str, Any]) -> None:
    counts = plan["would_purge"]
    table(
        f"purge --dry-run: would blank personal data before {plan['before']} (nothing changed)",
        ["table", "rows"],
        list(counts.items()),
    )


def stage_table(reports: list[dict[str, Any]]) -> None:
    table(
        "Stage",
        [
            "job",
            "files",
            "read",
            "staged",
            "folded",
            "rejected",
            "v1 rejected",
            "v2 rejected",
            "seconds",
        ],
        [
            [
                r["job"],
                r["files"],
                r["read"],
                r["staged"],
                r["folded"],
                r["rejected"],
                r["target_rejected"].get("v1", 0),
                r["target_rejected"].get("v2", 0),
                r["seconds"],
            ]
            for r in reports
        ],
    )


def push_table(reports: list[dict[str, Any]]) -> None:
    table(
        "Push",
        [
            "target",
            "pending",
            "created",
            "existing",
            "updated",
            "api rejected",
            "reconciled",
            "unknown",
            "left pending",
            "requests",
            "429s",
        ],
        [
            [
                r["target"],
                r["pending"],
                r["created"],
                r["existing"],
                r["updated"],
                r["api_rejected"],
                r["reconciled"],
                r["unknown"],
                r["left_pending"],
                r["requests"],
                r["throttled"],
            ]
            for r in reports
        ],
    )
    for r in reports:
        if r["dry_run"]:
            plan = r["plan"]
            console.print(
                f"{r['target']} dry run against {r['destination']}: would create "
                f"{plan['create']}, update {plan['update']} (v1 drift), resend or look "
                f"up {plan['resend_or_reconcile']}; nothing was sent"
            )
            if r.get("token_check") == "checked":
                console.print("  token: checked with a read-only call")
            for what, counts in (
                ("skip", plan["skip"]),
                ("rejected before sending", plan["rejected"]),
            ):
                if counts:
                    console.print(f"  {what}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
        elif r["pending"] == 0:
            console.print(f"{r['target']}: nothing new to deliver to {r['destination']}")


def status_tables(data: dict[str, Any]) -> None:
    if not data.get("exists"):
        console.print(f"No staging file at {data['staging']} yet: run `engagement-sync stage`.")
        return
    table(f"Staging {data['staging']}", ["table", "rows"], list(data["tables"].items()))
    states = [
        "created",
        "existing",
        "updated",
        "api_rejected",
        "pending",
        "in_flight",
        "unknown",
        "drifted",
    ]
    table(
        "Deliveries",
        ["target", *states, "destination"],
        [
            [t, *[v.get(s, 0) for s in states], data.get("destinations", {}).get(t, "")]
            for t, v in data["targets"].items()
        ],
    )
    if data["top_rejection_reasons"]:
        table(
            "Top reasons a record was not delivered",
            ["target", "reason", "by", "count"],
            [
                [r["target"], r["reason"], r["kind"], r["count"]]
                for r in data["top_rejection_reasons"]
            ],
        )


def demo_summary(data: dict[str, Any]) -> None:
    stage_rows = data["stage"]
    read = sum(r["read"] for r in stage_rows)
    staged = sum(r["staged"] for r in stage_rows)
    rejected = sum(r["rejected"] for r in stage_rows)
    rows = []
    for p in data["push"]:
        target_rejected = sum(r["target_rejected"].get(p["target"], 0) for r in stage_rows)
        rows.append(
            [
                p["target"],
                read,
                staged,
                rejected + target_rejected,
                p["created"] + p["existing"] + p["updated"],
                data["sandbox_holds"][p["target"]],
            ]
        )
    table(
        "Demo summary (this run)",
        ["target", "read", "staged", "rejected", "delivered", "sandbox holds"],
        rows,
    )
    if all(p["pending"] == 0 for p in data["push"]):
        console.print("Nothing new to deliver: every staged request was already delivered.")
    console.print(f"Staging: {data['staging']}")
    console.print(f"Look inside: duckdb {data['staging']}  (tables in schema engagements)")


def sync_summary(summary: dict[str, Any]) -> None:
    rows = []
    for job in summary["jobs"]:
        for target, t in job["targets"].items():
            api = ", ".join(f"{code}: {n}" for code, n in t["api_rejected_by_code"].items())
            rejected = sum(
                n
                for k, n in job["rejected_by_reason"].items()
                if k.split(":")[0] in ("record", target)
            )
            rows.append(
                [
                    job["job"],
                    target,
                    job["read"],
                    job["staged"],
                    rejected,
                    t["created"],
                    t["updated"],
                    t["existing"],
                    api or "0",
                    t["pending"],
                    t["unknown"],
                    t["drifted"],
                ]
            )
    table(
        f"Run {summary['run_id'][:12]} ({summary['seconds']} s)",
        [
            "job",
            "target",
            "read",
            "staged",
            "rejected",
            "created",
            "updated",
            "existing",
            "API rejected",
            "pending",
            "unknown",
            "drifted",
        ],
        rows,
    )
    reasons: dict[str, int] = {}
    for job in summary["jobs"]:
        for key, n in job["rejected_by_reason"].items():
            reasons[key] = reasons.get(key, 0) + n
    if reasons:
        table(
            "Rejected by reason (this run)",
            ["target:reason", "records"],
            sorted(reasons.items(), key=lambda kv: -kv[1]),
        )


def explain(story: dict[str, Any]) -> None:
    """A record's story, top to bottom, the way a data engineer reads it."""
    console.print(f"[bold]{story['external_id']}[/bold]")
    record = story["record"]
    if record:
        console.print(
            f"source: {record.get('source_file')} row {record.get('source_row')}  "
            f"({record.get('source_system')}, {record['kind_table']})"
        )
        keep = [
            "kind",
            "title",
            "started_at",
            "ended_at",
            "duration_ms",
            "direction",
            "status",
            "from_phone",
            "to_phone",
            "recording_url",
            "owner_email",
            "content_hash",
        ]
        table("Canonical record", ["column", "value"], [[k, record.get(k)] for k in keep])
    for target, request in story["requests"].items():
        console.print(f"{target} request (hash {request['content_hash'][:12]}…):")
        console.print_json(data=request["body"])
    for r in story["rejections"]:
        console.print(
            f"rejected{' for ' + r['target'] if r['target'] else ''}: {r['reason']} "
            f"({r['field']}): {r['message']}"
        )
        if r.get("raw"):
            console.print_json(data=r["raw"])
    if story["deliveries"]:
        console.print("[bold]Delivery attempts[/bold]")
        for d in story["deliveries"]:
            parts = [
                f"#{d['seq']}",
                str(d["recorded_at"])[:19],
                d["target"],
                d["phase"],
                d["state"] or "",
                f"HTTP {d['http_status']}" if d["http_status"] else "",
                f"engagement {d['engagement_id']}" if d["engagement_id"] else "",
                d["request_id"] or "",
                d["error"] or "",
                d["note"] or "",
            ]
            console.print("  " + "  ".join(p for p in parts if p), markup=False, highlight=False)
    else:
        console.print("no delivery attempt yet")


def html_written(data: dict[str, Any], err: bool = False) -> None:
    """`report --html`: where the page is, and what it holds."""
    (err_console if err else console).print(
        f"wrote {data['report']} ({data['bytes'] // 1024} KiB, the stories of "
        f"{data['stories']} of {data['records']} records); open it in any browser, no network "
        "needed",
        markup=False,
        highlight=False,
    )
