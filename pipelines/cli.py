"""The `engagement-sync` command line: parse, call one function per command, render.

Exit codes: 0 the run completed (rejections are reported, not failures; see --fail-on-rejects);
1 the run failed (the one-line message says what to do); 2 usage or configuration error;
3 the staging is in use by another run (the message names its PID; for a bucket staging, the
host, PID and since when); 130 interrupted (Ctrl-C).
With --json every result, and every failure, is one JSON object on one line of stdout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from destinations.engagements.redact import install_log_redaction, redacted
from destinations.engagements.staging_db import quiet_damage_in_dlt_logs
from pipelines import interrupt, report
from pipelines.options import (
    DEFAULT,
    AllowUnassociated,
    ContactMap,
    DispositionMap,
    FailOnRejects,
    FileGlob,
    FollowSymlinks,
    ForceNewPrefix,
    IsPrivate,
    JobName,
    Json,
    Mapping,
    OwnerMap,
    PathOpt,
    Prefix,
    Preset,
    Region,
    Relay,
    RelayHosts,
    RelayMaxMb,
    RelayUrlLifetime,
    RunWorkflows,
    SourceSystem,
    Staging,
    Target,
    Truncate,
    ValidateDns,
    job_flags,
    targets,
    user_time,
)
from pipelines.output import emit_json, error_object, log
from sources.errors import StopRunError

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
install_log_redaction()  # every log line, ours, dlt's or httpx's, loses any registered secret
quiet_damage_in_dlt_logs()  # a damaged staging is one line, not dlt's traceback per retry

# Plain tracebacks: pretty ones print local variables, and a local may hold a token.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Sync call and meeting exports into engagements APIs, exactly once.",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"engagement-sync {version('engagement-sync')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("engagement-sync (not installed: pip install -e .)")
        raise typer.Exit()


@app.callback()
def _options(
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format", envvar="ENGAGEMENT_SYNC_LOG_FORMAT", help="stderr: text or json."
        ),
    ] = "text",
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level",
            envvar="ENGAGEMENT_SYNC_LOG_LEVEL",
            help="stderr: debug, info, warning or error.",
        ),
    ] = "info",
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Options for every command (before the command name): how stderr is written."""
    from pipelines.output import configure_logging

    if log_format not in ("text", "json"):
        raise typer.BadParameter("--log-format must be text or json")
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("--log-level must be debug, info, warning or error")
    configure_logging(log_format, log_level.lower())


def _fail(exc: StopRunError, json: bool = False, staging: Path | None = None) -> None:
    """One line on stderr (and with --json one object on stdout), then exit with its code."""
    extra: dict[str, Any] = {}
    message = redacted(str(exc))  # never a secret, whatever the error quotes
    if isinstance(exc, interrupt.RunInterrupted) and staging is not None:
        from pipelines.usage import left_pending

        extra["pending"] = left_pending(staging)
        counts = ", ".join(f"{t} {n}" for t, n in extra["pending"].items())
        message = f"{message}; left pending: {counts}; run again to resume"
    log.error(message, extra={"exit_code": exc.exit_code})
    if json:
        emit_json(error_object(message, exc.exit_code, **extra))
    raise typer.Exit(exc.exit_code)


def _recorded(
    staging: Path, command: str, work: Callable[[Any], Any], json: bool = False
) -> tuple[Any, int]:
    """Run `work(run)` under the staging's run lock, recorded in `runs` with the exit code the
    process returns; (result, exit code). StopRunError and Ctrl-C -> one line and exit.
    A bucket staging is leased, downloaded, checkpointed and uploaded around it."""
    from pipelines.bucket_staging import session
    from pipelines.runs import recorded_run

    try:
        with session(staging, writes=True), recorded_run(staging, command) as run:
            return work(run), run.exit_code
    except StopRunError as exc:
        _fail(exc, json, staging)
    except KeyboardInterrupt:
        _fail(interrupt.RunInterrupted("interrupted while nothing was being sent"), json, staging)
    raise AssertionError("unreachable")


def _read(staging: Path, read: Callable[[], Any], json: bool = False) -> Any:
    """`read()` on the staging (a bucket staging: on a fresh download); StopRunError -> exit."""
    from pipelines.bucket_staging import session

    try:
        with session(staging, writes=False):
            return read()
    except StopRunError as exc:
        _fail(exc, json)


def _status(staging: Path, job: str | None, target: str | None) -> dict[str, Any]:
    from pipelines.status import status
    from pipelines.usage import check_job, check_status_target

    check_status_target(target)
    check_job(staging, job)
    return status(staging, job=job, target=target)


def _workflows_by_job() -> dict[str, bool]:
    """Each configured job's own run_workflows (no jobs configured: the default applies)."""
    from pipelines.jobs import select_jobs
    from sources.errors import ConfigError

    try:
        return {job.name: job.run_workflows for job in select_jobs(None, {})}
    except ConfigError:
        return {}


def _relays_by_job() -> dict[str, Any]:
    """The relays of the configured jobs (a push is not given job flags)."""
    from pipelines.jobs import configured_jobs, make_job
    from pipelines.relay_config import relays_by_job

    jobs = [
        make_job(name, values, Path.cwd())
        for name, values in configured_jobs().items()
        if values.get("relay")
    ]
    return relays_by_job(jobs)


def _rejected_any(staged: list[dict[str, Any]]) -> bool:
    return any(r["rejected"] or any(r["target_rejected"].values()) for r in staged)


@app.command("stage")
def stage_cmd(
    staging: Staging = DEFAULT,
    job: JobName = None,
    preset: Preset = None,
    path: PathOpt = None,
    file_glob: FileGlob = None,
    prefix: Prefix = None,
    source_system: SourceSystem = None,
    contact_map: ContactMap = None,
    owner_map: OwnerMap = None,
    mapping: Mapping = None,
    default_region: Region = None,
    allow_unassociated: AllowUnassociated = None,
    follow_symlinks: FollowSymlinks = None,
    is_private: IsPrivate = None,
    truncate_transcripts: Truncate = None,
    validate_dns: ValidateDns = None,
    disposition_map: DispositionMap = None,
    relay: Relay = None,
    relay_url_lifetime: RelayUrlLifetime = None,
    relay_hosts: RelayHosts = None,
    relay_max_mb: RelayMaxMb = None,
    force_new_prefix: ForceNewPrefix = False,
    fail_on_rejects: FailOnRejects = False,
    json: Json = False,
) -> None:
    """Read new or changed export files into the staging."""
    from pipelines.jobs import select_jobs
    from pipelines.stage import stage

    flags = job_flags(locals())

    def work(run: Any) -> list[dict[str, Any]]:
        reports = [
            r.as_dict()
            for r in stage(staging, select_jobs(job, flags), force_new_prefix=force_new_prefix)
        ]
        run.summary = {"stage": reports}
        run.exit_code = 1 if fail_on_rejects and _rejected_any(reports) else 0
        return reports

    reports, code = _recorded(staging, "stage", work, json)
    report.emit_json({"stage": reports}) if json else report.stage_table(reports)
    raise typer.Exit(code)


@app.command("push")
def push_cmd(
    staging: Staging = DEFAULT,
    target: Target = "all",
    run_workflows: RunWorkflows = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Send nothing.")] = False,
    json: Json = False,
) -> None:
    """Send every pending request to the API(s)."""
    from pipelines.destinations_config import resolve
    from pipelines.parallel import push_targets
    from pipelines.push import push

    chosen = targets(target)
    if dry_run and not staging.exists():  # a dry run never creates a staging file
        report.no_staging(staging, json, "push")
        return

    def work(run: Any) -> list[dict[str, Any]]:
        per_job = _workflows_by_job() if run_workflows is None else {}
        relays = _relays_by_job()
        reports: list[dict[str, Any]] = []
        run.summary = {"push": reports}
        settings = {t: resolve(t, require_token=not dry_run) for t in chosen}

        def push_one(t: str) -> dict[str, Any]:
            return push(
                staging,
                settings[t],
                run_workflows is not False,
                dry_run,
                run_id=run.run_id,
                run_workflows_by_job=per_job,
                relays=relays,
            ).as_dict()

        push_targets(staging, chosen, push_one, reports)  # v1 and v2 at once
        return reports

    reports, _ = _recorded(staging, "push", work, json)
    report.emit_json({"push": reports}) if json else report.push_table(reports)


def _sync_like(
    command: str,
    staging: Path,
    job: str | None,
    flags: dict[str, Any],
    options: Any,
    fail_on_rejects: bool,
    json: bool,
    html: Path | None = None,
) -> None:
    from pipelines.jobs import select_jobs
    from pipelines.sync import sync

    def work(run: Any) -> dict[str, Any]:
        summary = sync(staging, select_jobs(job, flags), options, run)
        rejected = any(
            j["rejected"]
            or any(t["api_rejected_by_code"] for t in j["targets"].values())
            or any(k.split(":")[0] != "record" for k in j["rejected_by_reason"])
            for j in summary["jobs"]
        )
        run.exit_code = 1 if fail_on_rejects and rejected else 0
        return summary

    try:
        summary, code = _recorded(staging, command, work, json)
    finally:  # a failed or interrupted run gets its report too
        if html is not None and staging.exists():
            written = _read(staging, lambda: _html_report(staging, html, 1000))
            report.html_written(written, err=json)
    report.emit_json(summary) if json else report.sync_summary(summary)
    raise typer.Exit(code)


@app.command("sync")
def sync_cmd(
    staging: Staging = DEFAULT,
    job: JobName = None,
    preset: Preset = None,
    path: PathOpt = None,
    file_glob: FileGlob = None,
    prefix: Prefix = None,
    source_system: SourceSystem = None,
    contact_map: ContactMap = None,
    owner_map: OwnerMap = None,
    mapping: Mapping = None,
    default_region: Region = None,
    allow_unassociated: AllowUnassociated = None,
    follow_symlinks: FollowSymlinks = None,
    is_private: IsPrivate = None,
    truncate_transcripts: Truncate = None,
    validate_dns: ValidateDns = None,
    disposition_map: DispositionMap = None,
    relay: Relay = None,
    relay_url_lifetime: RelayUrlLifetime = None,
    relay_hosts: RelayHosts = None,
    relay_max_mb: RelayMaxMb = None,
    target: Target = "all",
    run_workflows: RunWorkflows = None,
    force_new_prefix: ForceNewPrefix = False,
    fail_on_rejects: FailOnRejects = False,
    html: Annotated[
        Path | None,
        typer.Option("--report", help="Also write the run report (HTML page) to this file."),
    ] = None,
    json: Json = False,
) -> None:
    """Stage new or changed files, then push what is pending (for schedulers)."""
    from pipelines.sync import SyncOptions

    flags = job_flags(locals())
    options = SyncOptions(targets(target), run_workflows, force_new_prefix)
    _sync_like("sync", staging, job, flags, options, fail_on_rejects, json, html)


@app.command("backfill")
def backfill_cmd(
    since: Annotated[str, typer.Option(help="Start of the window, inclusive (UTC date).")],
    until: Annotated[str | None, typer.Option(help="End, exclusive (UTC date).")] = None,
    staging: Staging = DEFAULT,
    job: JobName = None,
    preset: Preset = None,
    path: PathOpt = None,
    file_glob: FileGlob = None,
    prefix: Prefix = None,
    source_system: SourceSystem = None,
    contact_map: ContactMap = None,
    owner_map: OwnerMap = None,
    mapping: Mapping = None,
    default_region: Region = None,
    allow_unassociated: AllowUnassociated = None,
    follow_symlinks: FollowSymlinks = None,
    is_private: IsPrivate = None,
    truncate_transcripts: Truncate = None,
    validate_dns: ValidateDns = None,
    disposition_map: DispositionMap = None,
    relay: Relay = None,
    relay_url_lifetime: RelayUrlLifetime = None,
    relay_hosts: RelayHosts = None,
    relay_max_mb: RelayMaxMb = None,
    target: Target = "all",
    run_workflows: Annotated[
        bool,
        typer.Option(
            "--run-workflows/--no-run-workflows", help="v2 workflows (off for backfills)."
        ),
    ] = False,
    fail_on_rejects: FailOnRejects = False,
    json: Json = False,
) -> None:
    """Push a window of old records with workflows suppressed; reads every file and leaves the
    scheduled runs' incremental state alone."""
    from pipelines.sync import SyncOptions

    flags = job_flags(locals())
    start, end = user_time(since, "--since"), user_time(until, "--until")
    if start and end and end <= start:
        raise typer.BadParameter("--until must be after --since")
    options = SyncOptions(targets(target), run_workflows, False, start, end, backfill=True)
    _sync_like("backfill", staging, job, flags, options, fail_on_rejects, json)


@app.command("status")
def status_cmd(
    staging: Staging = DEFAULT,
    job: JobName = None,
    target: Annotated[str | None, typer.Option(help="v1 or v2 only.")] = None,
    json: Json = False,
) -> None:
    """Counts per table and per delivery state, and the most common rejection reasons."""
    data = _read(staging, lambda: _status(staging, job, target), json)
    report.emit_json(data) if json else report.status_tables(data)


@app.command("report")
def report_cmd(
    html: Annotated[
        Path, typer.Option("--html", help="The page to write: one self-contained HTML file.")
    ],
    stories: Annotated[
        int, typer.Option(min=0, help="Most records whose story the page holds.")
    ] = 1000,
    staging: Staging = DEFAULT,
    json: Json = False,
) -> None:
    """Write a run report people look at: states, rejections, sends, latency, API errors and
    a search box for one record's story, in one HTML page viewable with no network."""
    data = _read(staging, lambda: _html_report(staging, html, stories), json)
    report.emit_json(data) if json else report.html_written(data)


def _html_report(staging: Path, html: Path, stories: int) -> dict[str, Any]:
    from pipelines.html_report import write_report
    from sources.errors import ConfigError

    if not staging.exists():
        raise ConfigError(f"no staging file at {staging}; run `engagement-sync stage` first")
    return write_report(staging, html, stories)


@app.command("explain")
def explain_cmd(external_id: str, staging: Staging = DEFAULT, json: Json = False) -> None:
    """A record's whole story: source row, canonical record, requests, every delivery attempt."""
    from pipelines.inspect import explain

    data = _read(staging, lambda: explain(staging, external_id), json)
    report.emit_json(data) if json else report.explain(data)


@app.command("retry")
def retry_cmd(
    staging: Staging = DEFAULT,
    reason: Annotated[str | None, typer.Option(help="Only this error code or HTTP status.")] = None,
    target: Target = "all",
    json: Json = False,
) -> None:
    """Re-queue records the API rejected (e.g. after fixing a contact map); `push` sends them."""
    from pipelines.maintenance import retry

    def work(run: Any) -> dict[str, int]:
        run.summary = {"requeued": retry(staging, list(targets(target)), reason, run.run_id)}
        return run.summary

    data, _ = _recorded(staging, "retry", work, json)
    if json:
        report.emit_json(data)
    else:
        for t, n in data["requeued"].items():
            report.console.print(f"{t}: {n} record(s) re-queued; `engagement-sync push` sends them")


@app.command("reconcile")
def reconcile_cmd(
    staging: Staging = DEFAULT,
    target: Target = "all",
    since: Annotated[
        str | None, typer.Option(help="Only records that started on or after (YYYY-MM-DD).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Record nothing.")] = False,
    json: Json = False,
) -> None:
    """Rebuild a lost ledger from the destination: what it already holds, what is missing."""
    from pipelines.destinations_config import resolve
    from pipelines.rebuild import reconcile

    start = user_time(since, "--since") if since else None

    def work(run: Any) -> list[dict[str, Any]]:
        found = [
            reconcile(staging, resolve(t), run.run_id, start, dry_run) for t in targets(target)
        ]
        run.summary = {"reconcile": found}
        return found

    data, _ = _recorded(staging, "reconcile", work, json)
    if json:
        report.emit_json({"reconcile": data})
    else:
        for r in data:
            report.console.print(
                f"{r['target']}: {r['looked_up']} looked up, {r['found']} found at "
                f"{r['destination']}, {r['missing']} missing, {r['requests']} request(s)"
            )


@app.command("sql")
def sql_cmd(query: str, staging: Staging = DEFAULT, json: Json = False) -> None:
    """Run a read-only SQL query on the staging (tables of schema engagements, unqualified)."""
    from pipelines.sqlquery import sql

    data = _read(staging, lambda: sql(staging, query), json)
    if json:  # JSON Lines: one object per row
        report.emit_json_lines([dict(zip(data["columns"], r, strict=True)) for r in data["rows"]])
    else:
        report.table("", data["columns"], data["rows"])


@app.command("purge")
def purge_cmd(
    before: Annotated[str, typer.Option(help="Records that started before this date (UTC).")],
    staging: Staging = DEFAULT,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be removed; change nothing.")
    ] = False,
    json: Json = False,
) -> None:
    """Erase personal data of settled records older than a date, every copy, and rewrite the
    file so no erased value stays in its bytes; ids, hashes and states stay (nothing re-sent)."""
    from pipelines.purge import purge
    from pipelines.purge_plan import would_purge

    cutoff = user_time(before, "--before")
    if dry_run:
        plan = {"would_purge": would_purge(staging, cutoff), "before": str(cutoff)}  # type: ignore[arg-type]
        report.emit_json(plan) if json else report.purge_plan(plan)
        return

    def work(run: Any) -> dict[str, int]:
        run.summary = {"purged": purge(staging, cutoff)}  # type: ignore[arg-type]
        return run.summary

    data, _ = _recorded(staging, "purge", work, json)
    report.emit_json(data) if json else report.table(
        f"Purged before {before}", ["table", "rows"], list(data["purged"].items())
    )


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
    tenant: Annotated[
        list[str] | None,
        typer.Option(help="Another portal/workspace behind the same URL: TOKEN=PORTAL_ID."),
    ] = None,
) -> None:
    """Run the local emulator of both APIs until interrupted (faults off unless asked)."""
    from destinations.sandbox import SandboxConfig, serve_forever

    config = SandboxConfig(
        token=token,
        tenants=tuple(_tenant(t) for t in tenant or []),
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


def _tenant(value: str) -> tuple[str, int]:
    token, _, portal = value.partition("=")
    if not token or not portal.isdigit():
        raise typer.BadParameter(
            f"--tenant takes TOKEN=PORTAL_ID (e.g. token-b=77001), not {value!r}"
        )
    return token, int(portal)


@app.command("demo")
def demo_cmd(staging: Staging = Path("engagement-sync-demo.duckdb"), json: Json = False) -> None:
    """Run the whole path on bundled samples against the local sandbox."""
    from pipelines.demo import run_demo

    data, _ = _recorded(staging, "demo", lambda run: run_demo(staging), json)
    if json:
        report.emit_json(data)
        return
    report.stage_table(data["stage"])
    report.push_table(data["push"])
    report.demo_summary(data)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: Ctrl-C handling (interrupt.py), usage errors as one line
    (and a JSON object with --json), and no traceback for anything the user can fix."""
    args = sys.argv[1:] if argv is None else argv
    json = "--json" in args
    from pipelines.output import configure_logging

    configure_logging()  # until the app's options say otherwise
    interrupt.install(json)
    sys.exit(run_cli(args, json))


def run_cli(args: list[str], json: bool) -> int:
    """The app in non-standalone mode; returns the exit code."""
    from typer import Abort
    from typer._click.exceptions import ClickException

    try:
        code = app(args=args, prog_name="engagement-sync", standalone_mode=False)
    except ClickException as exc:  # usage errors: one line naming the option, and --help
        if not exc.format_message():  # no arguments at all: the help was printed
            return exc.exit_code
        message = f"{exc.format_message()}; see engagement-sync {' '.join(args[:1])} --help"
        return _report_failure(message, exc.exit_code, json)
    except (Abort, KeyboardInterrupt):
        return _report_failure("interrupted; nothing is lost, run again to resume", 130, json)
    except Exception as exc:  # a bug: one line, the traceback only with --log-level debug
        log.debug("traceback", exc_info=True)
        message = redacted(
            f"internal error ({type(exc).__name__}: {exc}); please report it with the output "
            "of the same command run with --log-level debug"
        )
        return _report_failure(message, 1, json)
    return code if isinstance(code, int) else 0


def _report_failure(message: str, exit_code: int, json: bool) -> int:
    log.error(message, extra={"exit_code": exit_code})
    if json:
        emit_json(error_object(message, exit_code))
    return exit_code


if __name__ == "__main__":
    main()
