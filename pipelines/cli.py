"""The `engagement-sync` command line: parse, call one function per command, render.

Exit codes: 0 the run completed (rejections are reported, not failures); 1 the run failed
(the one-line message says what to do); 2 usage or configuration error; 3 the staging is locked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from destinations.engagements.errors import StopRunError
from destinations.engagements.staging_db import DEFAULT_STAGING
from pipelines import report

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

# Plain tracebacks: pretty ones print local variables, and a local may hold a token.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Sync call and meeting exports into engagements APIs, exactly once.",
)

Staging = Annotated[Path, typer.Option("--staging", help="DuckDB staging file.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
JobName = Annotated[str | None, typer.Option("--job", help="Run one job from .dlt/config.toml.")]
Preset = Annotated[str | None, typer.Option(help="One-off job: the export format (twilio).")]
PathOpt = Annotated[
    str | None,
    typer.Option("--path", help="One-off job: folder, file, glob or bucket URL of the exports."),
]
Prefix = Annotated[str | None, typer.Option(help="external_id prefix (default: the preset).")]
ContactMap = Annotated[str | None, typer.Option(help="CSV contact_id,email,phone.")]
OwnerMap = Annotated[str | None, typer.Option(help="CSV owner_id,email.")]
Region = Annotated[str | None, typer.Option(help="Default phone region, e.g. US.")]
AllowUnassociated = Annotated[
    bool | None,
    typer.Option(
        "--allow-unassociated/--require-contact", help="v1: send records without a contact."
    ),
]
Target = Annotated[str, typer.Option(help="v1, v2 or all.")]
RunWorkflows = Annotated[
    bool,
    typer.Option(
        "--run-workflows/--no-run-workflows", help="v2: let workflows fire for new engagements."
    ),
]


def _fail(exc: StopRunError) -> None:
    sys.stderr.write(f"error: {exc}\n")  # one line, never wrapped
    raise typer.Exit(exc.exit_code)


def _flags(
    preset: str | None,
    path: str | None,
    prefix: str | None,
    contact_map: str | None,
    owner_map: str | None,
    default_region: str | None,
    allow_unassociated: bool | None,
) -> dict[str, Any]:
    return {
        "preset": preset,
        "path": path,
        "prefix": prefix,
        "contact_map": contact_map,
        "owner_map": owner_map,
        "default_region": default_region,
        "allow_unassociated": allow_unassociated,
    }


def _targets(target: str) -> list[str]:
    if target not in ("v1", "v2", "all"):
        raise typer.BadParameter("--target must be v1, v2 or all")
    return ["v1", "v2"] if target == "all" else [target]


@app.command("stage")
def stage_cmd(
    staging: Staging = Path(DEFAULT_STAGING),
    job: JobName = None,
    preset: Preset = None,
    path: PathOpt = None,
    prefix: Prefix = None,
    contact_map: ContactMap = None,
    owner_map: OwnerMap = None,
    default_region: Region = None,
    allow_unassociated: AllowUnassociated = None,
    json: Json = False,
) -> None:
    """Read new or changed export files into the staging."""
    from pipelines.jobs import select_jobs
    from pipelines.stage import stage

    try:
        jobs = select_jobs(
            job,
            _flags(
                preset, path, prefix, contact_map, owner_map, default_region, allow_unassociated
            ),
        )
        reports = [r.as_dict() for r in stage(staging, jobs)]
    except StopRunError as exc:
        _fail(exc)
    report.emit_json({"stage": reports}) if json else report.stage_table(reports)


def _push_all(
    staging: Path, targets: list[str], run_workflows: bool, dry_run: bool
) -> list[dict[str, Any]]:
    from pipelines.destinations_config import resolve
    from pipelines.push import push

    return [
        push(staging, resolve(t, require_token=not dry_run), run_workflows, dry_run).as_dict()
        for t in targets
    ]


@app.command("push")
def push_cmd(
    staging: Staging = Path(DEFAULT_STAGING),
    target: Target = "all",
    run_workflows: RunWorkflows = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Send nothing.")] = False,
    json: Json = False,
) -> None:
    """Send every pending request to the API(s)."""
    try:
        reports = _push_all(staging, _targets(target), run_workflows, dry_run)
    except StopRunError as exc:
        _fail(exc)
    report.emit_json({"push": reports}) if json else report.push_table(reports)


@app.command("sync")
def sync_cmd(
    staging: Staging = Path(DEFAULT_STAGING),
    job: JobName = None,
    preset: Preset = None,
    path: PathOpt = None,
    prefix: Prefix = None,
    contact_map: ContactMap = None,
    owner_map: OwnerMap = None,
    default_region: Region = None,
    allow_unassociated: AllowUnassociated = None,
    target: Target = "all",
    run_workflows: RunWorkflows = True,
    json: Json = False,
) -> None:
    """Stage new or changed files, then push what is pending (for schedulers)."""
    from pipelines.jobs import select_jobs
    from pipelines.stage import stage

    try:
        jobs = select_jobs(
            job,
            _flags(
                preset, path, prefix, contact_map, owner_map, default_region, allow_unassociated
            ),
        )
        staged = [r.as_dict() for r in stage(staging, jobs)]
        pushed = _push_all(staging, _targets(target), run_workflows, False)
    except StopRunError as exc:
        _fail(exc)
    if json:
        report.emit_json({"stage": staged, "push": pushed})
    else:
        report.stage_table(staged)
        report.push_table(pushed)


@app.command("status")
def status_cmd(staging: Staging = Path(DEFAULT_STAGING), json: Json = False) -> None:
    """Counts per table and per delivery state."""
    from pipelines.status import status

    try:
        data = status(staging)
    except StopRunError as exc:
        _fail(exc)
    report.emit_json(data) if json else report.status_tables(data)


@app.command("sandbox")
def sandbox_cmd(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    token: Annotated[str, typer.Option(help="Bearer token it accepts.")] = "sandbox-token",
    store: Annotated[str | None, typer.Option(help="SQLite file to persist to.")] = None,
    v1_requests_per_10s: Annotated[int, typer.Option(help="v1 10-second limit.")] = 100,
    v2_requests_per_second: Annotated[float, typer.Option(help="v2 limit.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed of every fault (replayable).")] = 0,
    latency_ms: Annotated[float, typer.Option(help="Added to every create.")] = 0.0,
    error_rate: Annotated[float, typer.Option(help="Creates answered 500.")] = 0.0,
    lost_response_rate: Annotated[float, typer.Option(help="Stored, then no answer.")] = 0.0,
    read_timeout_rate: Annotated[float, typer.Option(help="Stored, answer held back.")] = 0.0,
    storm_every: Annotated[int, typer.Option(help="429 storm period (creates).")] = 0,
    storm_length: Annotated[int, typer.Option(help="429s per storm period.")] = 0,
    v1_daily_limit: Annotated[int, typer.Option(help="v1 daily quota.")] = 250_000,
    media_timeout_rate: Annotated[float, typer.Option(help="v2 422 media timeouts.")] = 0.0,
) -> None:
    """Run the local emulator of both APIs until interrupted (faults off unless asked)."""
    from destinations.sandbox import SandboxConfig, serve_forever

    config = SandboxConfig(
        token=token,
        store_path=store,
        v1_requests_per_10s=v1_requests_per_10s,
        v2_requests_per_second=v2_requests_per_second,
        seed=seed,
        latency_ms=latency_ms,
        error_rate=error_rate,
        lost_response_rate=lost_response_rate,
        read_timeout_rate=read_timeout_rate,
        storm_every=storm_every,
        storm_length=storm_length,
        v1_daily_limit=v1_daily_limit,
        media_timeout_rate=media_timeout_rate,
    )
    report.console.print(
        f"sandbox: v1 base_url http://127.0.0.1:{port}, v2 base_url "
        f"http://127.0.0.1:{port}/api, token {token!r} (Ctrl-C to stop)"
    )
    serve_forever(config, port)


@app.command("demo")
def demo_cmd(staging: Staging = Path("engagement-sync-demo.duckdb"), json: Json = False) -> None:
    """Run the whole path on bundled samples against the local sandbox."""
    from pipelines.demo import run_demo

    try:
        data = run_demo(staging)
    except StopRunError as exc:
        _fail(exc)
    if json:
        report.emit_json(data)
        return
    report.stage_table(data["stage"])
    report.push_table(data["push"])
    report.demo_summary(data)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        report.err_console.print("interrupted: pending records stay pending; run again to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
