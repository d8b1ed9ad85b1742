"""Stage throughput: `engagement-sync stage` on big Twilio CSVs, side by side with pure DuckDB SQL.

    python bench/stage.py [--rows 1000000,100000] [--keep] [--profile] [--no-check]

For each size N, writes a Twilio call-log CSV of exactly N rows (the columns of
pipelines/sample_data.CSV_COLUMNS, ISO times with Z; child legs, orphan child legs, rows without
a sid or with a bad start time, numbers that are not valid) and a recordings CSV for ~75 % of the
calls (`--recordings-share`), both with DuckDB COPY (vectorised, a few seconds for 1M rows).
Then, each in a fresh process with a fresh output file:

  * engagement-sync: `engagement-sync stage --staging S --preset twilio --path DIR
    --allow-unassociated --json` (DIR holds the two CSVs);
  * reference: bench/stage_reference.sql run by the `duckdb` CLI, which reads the same CSVs and
    writes calls, recordings, v1_requests, v2_requests and rejected_records into a DuckDB file.

Wall time is measured around the child; peak RSS is the child's own ru_maxrss, reported by a
small `python -S` wrapper that spawns it and waits for it with os.wait4 (see WRAPPER: a child
spawned by the big bench process itself would inherit the bench's peak). Prints wall s,
rows/s, peak RSS and the ratio to the reference, then the targets as PASS/FAIL: ratio <= 3 at
1M rows, peak RSS <= 2 GiB, RSS(1M) <= 1.5 x RSS(100k). `--check` (default) compares the two
outputs table by table. `--profile` also runs the stage path in-process step by step (read, map,
build with a per-function breakdown, dlt extract / normalize / load, finish) and the reference
statement by statement, to show where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

from pipelines.sample_data import CSV_COLUMNS  # noqa: E402

REFERENCE_SQL = ROOT / "bench" / "stage_reference.sql"
CALLS_FILE = "call_log.csv"
RECORDINGS_FILE = "recordings.csv"
RSS_LIMIT_MIB = 2048  # "peak RSS <= 2 GB", read as 2 GiB
RATIO_LIMIT = 3.0
RSS_GROWTH_LIMIT = 1.5
MiB = 1024 * 1024


# --- data --------------------------------------------------------------------------------------

# Row i (1-based) of the calls file; one rule per row, first match wins. Shares are of all rows.
#   i % 200 = 0   no sid (0.5 %)                 -> rejected: missing_id
#   i % 100 = 50  start_time "yesterday-ish" (1 %) -> rejected: bad_timestamp
#   i % 20 = 7    child leg of row i-1 (5 %)      -> folded into its parent
#   i % 250 = 13  child leg whose parent is not in the file (0.4 %): staged under the parent sid
#   otherwise     a parent call (60 % outbound-api, 40 % inbound)
# Numbers (other party unless said): i % 41 = 3 "+1 (212) 555-0123" (valid, needs normalising),
# i % 97 = 5 bare "2125550123" (no country: invalid), i % 67 = 1 "Anonymous", i % 29 = 0 `to` is
# "client:agent_alice". i % 101 = 7 no end_time; i % 103 = 9 no duration (from end - start).
# Recordings: for `share` of the calls with a sid (orphans: on the absent parent's sid); 1 in 41
# deleted, 1 in 3 without media_url (URL from uri), 1 in 50 with an http:// media_url.
CALLS_SQL = """
CREATE TEMP TABLE gen AS
WITH base AS (SELECT i, hash(i + {seed}) AS h FROM range(1, {rows} + 1) t(i)),
k AS (
    SELECT i, h,
        CASE WHEN i % 200 = 0 THEN 'nosid' WHEN i % 100 = 50 THEN 'badtime'
             WHEN i % 20 = 7 THEN 'child' WHEN i % 250 = 13 THEN 'orphan'
             ELSE 'call' END AS kind,
        (h >> 3) % 10 < 6 AS outbound,
        TIMESTAMP '2024-03-01 09:00:00' + to_seconds((i * 31 + (h >> 40) % 60)::BIGINT) AS st,
        (5 + (h >> 24) % 1795)::BIGINT AS dur,
        '+1415555' || lpad((1000 + i % 9000)::VARCHAR, 4, '0') AS agent,
        lpad(((h >> 16) % 10000)::VARCHAR, 4, '0') AS d4
    FROM base
),
p AS (
    SELECT *,
        CASE WHEN i % 41 = 3 THEN '+1 (212) 555-' || d4 WHEN i % 97 = 5 THEN '212555' || d4
             WHEN i % 67 = 1 THEN 'Anonymous' ELSE '+1212555' || d4 END AS other,
        'CA' || lower(lpad(hex(i), 32, '0')) AS own_sid
    FROM k
)
SELECT i, kind, h, st, dur, own_sid,
    CASE WHEN kind = 'nosid' THEN NULL ELSE own_sid END AS sid,
    CASE kind WHEN 'child' THEN 'CA' || lower(lpad(hex(i - 1), 32, '0'))
              WHEN 'orphan' THEN 'CA' || lower(lpad(hex(i + 100000000), 32, '0')) END
        AS parent_call_sid,
    CASE WHEN outbound THEN agent ELSE other END AS "from",
    CASE WHEN i % 29 = 0 THEN 'client:agent_alice' WHEN outbound THEN other ELSE agent END
        AS "to",
    CASE WHEN kind IN ('child', 'orphan') THEN 'outbound-dial'
         WHEN outbound THEN 'outbound-api' ELSE 'inbound' END AS direction,
    (['completed', 'completed', 'completed', 'completed', 'completed', 'completed',
      'completed', 'completed', 'busy', 'no-answer', 'failed', 'canceled'])
        [(1 + (h >> 12) % 12)::BIGINT]
        AS status,
    CASE WHEN kind = 'badtime' THEN 'yesterday-ish'
         ELSE strftime(st, '%Y-%m-%dT%H:%M:%SZ') END AS start_time,
    CASE WHEN kind = 'badtime' OR i % 101 = 7 THEN NULL
         ELSE strftime(st + to_seconds(dur), '%Y-%m-%dT%H:%M:%SZ') END AS end_time,
    CASE WHEN i % 103 = 9 THEN NULL ELSE dur::VARCHAR END AS duration,
    CASE WHEN outbound OR kind IN ('child', 'orphan') THEN NULL
         WHEN i % 300 = 1 THEN 'Doe, Jane' ELSE 'Caller ' || i END AS caller_name,
    '-0.0130' AS price,
    'USD' AS price_unit
FROM p;
COPY (SELECT {columns} FROM gen ORDER BY i) TO '{calls}' (HEADER, DELIMITER ',');
COPY (
    SELECT 'RE' || substr(own_sid, 3) AS sid,
        coalesce(CASE WHEN kind = 'orphan' THEN parent_call_sid END, sid) AS call_sid,
        CASE WHEN i % 41 = 0 THEN 'deleted' ELSE 'completed' END AS status,
        dur::VARCHAR AS duration,
        start_time AS date_created,
        '/2010-04-01/Accounts/AC{account}/Recordings/RE' || substr(own_sid, 3) || '.json' AS uri,
        CASE WHEN i % 3 = 0 THEN NULL
             ELSE (CASE WHEN i % 50 = 1 THEN 'http' ELSE 'https' END)
                  || '://api.twilio.com/2010-04-01/Accounts/AC{account}/Recordings/RE'
                  || substr(own_sid, 3) END AS media_url
    FROM gen
    WHERE kind IN ('call', 'orphan', 'badtime') AND (h >> 32) % 1000 < {share_permille}
    ORDER BY i
) TO '{recordings}' (HEADER, DELIMITER ',');
"""

SUMMARY_SQL = """
SELECT count(*) AS rows,
       count(*) FILTER (kind = 'child') AS child_legs,
       count(*) FILTER (kind = 'orphan') AS orphan_legs,
       count(*) FILTER (kind IN ('nosid', 'badtime')) AS bad_rows,
       count(*) FILTER ("from" NOT LIKE '+1%' OR "to" NOT LIKE '+1%'
                        OR "from" LIKE '+1 %' OR "to" LIKE '+1 %') AS odd_numbers
FROM gen
"""


def generate(folder: Path, rows: int, share: float, seed: int = 7) -> dict[str, Any]:
    """The calls CSV (exactly `rows` rows) and the recordings CSV in `folder`; a summary."""
    spec = {"rows": rows, "share": share, "seed": seed, "version": 1}
    marker = folder.parent / f"{folder.name}.spec.json"  # not in the folder engagement-sync reads
    if marker.exists() and json.loads(marker.read_text()).get("spec") == spec:
        return json.loads(marker.read_text())["summary"]
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with duckdb.connect() as con:
        con.execute(
            CALLS_SQL.format(
                rows=rows,
                seed=seed,
                columns=", ".join(f'"{c}"' for c in CSV_COLUMNS),
                calls=folder / CALLS_FILE,
                recordings=folder / RECORDINGS_FILE,
                account="0" * 31 + "1",
                share_permille=round(share * 1000),
            )
        )
        names = ("rows", "child_legs", "orphan_legs", "bad_rows", "odd_numbers")
        summary: dict[str, Any] = dict(zip(names, con.execute(SUMMARY_SQL).fetchone(), strict=True))
        summary["recordings"] = con.execute(
            f"SELECT count(*) FROM read_csv('{folder / RECORDINGS_FILE}')"
        ).fetchone()[0]
    summary["calls_mib"] = (folder / CALLS_FILE).stat().st_size / MiB
    summary["recordings_mib"] = (folder / RECORDINGS_FILE).stat().st_size / MiB
    summary["seconds"] = time.perf_counter() - started
    marker.write_text(json.dumps({"spec": spec, "summary": summary}))
    return summary


# --- measured runs -------------------------------------------------------------------------------


@dataclass
class Run:
    tool: str
    rows: int
    wall: float
    peak_rss_mib: float
    returncode: int
    stdout: str
    stderr: str
    ratio: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall if self.wall else 0.0


# Runs the command given after the report path and writes its wall time and peak RSS there. A
# child forked from a big process inherits that process's peak RSS in its ru_maxrss (Linux copies
# the high-water mark of the mm it leaves at exec), so the bench never spawns the measured
# command itself: this small `python -S` process does, and reports only its child's numbers.
WRAPPER = """
import json, os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(report, "w") as fh:
    json.dump({"wall": wall, "maxrss_kib": usage.ru_maxrss,
               "returncode": os.waitstatus_to_exitcode(status)}, fh)
"""


def measure(tool: str, rows: int, cmd: list[str], cwd: Path, env: dict[str, str]) -> Run:
    """Run `cmd` in its own process: wall seconds and that process's own peak RSS."""
    cwd.mkdir(parents=True, exist_ok=True)
    out_path, err_path = cwd / f"{tool}.stdout", cwd / f"{tool}.stderr"
    report = cwd / f"{tool}.measure.json"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        subprocess.run(
            [sys.executable, "-S", "-c", WRAPPER, str(report), *cmd],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            check=True,
        )
    measured = json.loads(report.read_text())
    run = Run(
        tool,
        rows,
        measured["wall"],
        measured["maxrss_kib"] / 1024,  # KiB on Linux
        measured["returncode"],
        out_path.read_text(),
        err_path.read_text(),
    )
    if run.returncode != 0:
        sys.exit(f"{tool} failed (exit {run.returncode}) on {rows} rows:\n{run.stderr[-4000:]}")
    return run


def child_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(RUNTIME__DLTHUB_TELEMETRY="false", DLT_DATA_DIR=str(work / "dlt-data"))
    return env


def executable(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        sys.exit(f"{name} not found: run with the project's venv (pip install -e .)")
    return found


def duckdb_cli() -> list[str]:
    """The DuckDB shell binary of the duckdb-cli package (its `duckdb` script only wraps it)."""
    try:
        import duckdb_cli  # type: ignore[import-not-found]

        binary = Path(duckdb_cli.__file__).parent / "duckdb"
        if binary.exists():
            return [str(binary)]
    except ImportError:
        pass
    return [executable("duckdb")]


def run_engagement_sync(data: Path, work: Path, rows: int) -> tuple[Run, Path]:
    staging = work / "stage.duckdb"
    cmd = [
        executable("engagement-sync"),
        "stage",
        "--staging",
        str(staging),
        "--preset",
        "twilio",
        "--path",
        str(data),
        "--allow-unassociated",
        "--json",
    ]
    run = measure("engagement-sync", rows, cmd, work, child_env(work))
    try:
        run.info = json.loads(run.stdout)["stage"][0]
    except (ValueError, KeyError, IndexError):
        run.info = {}
    return run, staging


def run_reference(data: Path, work: Path, rows: int) -> tuple[Run, Path]:
    out = work / "reference.duckdb"
    cmd = [*duckdb_cli(), str(out), "-bail"]
    for setting in reference_variables(data):
        cmd += ["-cmd", setting]
    cmd += ["-f", str(REFERENCE_SQL)]
    return measure("reference", rows, cmd, work, child_env(work)), out


def reference_variables(data: Path) -> list[str]:
    return [
        f"SET VARIABLE calls_csv = '{data / CALLS_FILE}'",
        f"SET VARIABLE recordings_csv = '{data / RECORDINGS_FILE}'",
        f"SET VARIABLE source_file = '{CALLS_FILE}'",
    ]


def reference_statements(data: Path, work: Path) -> list[dict[str, Any]]:
    """The reference script again, statement by statement under the shell's `.timer on`."""
    work.mkdir(parents=True, exist_ok=True)
    lines = REFERENCE_SQL.read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("--"))
    statements = [st.strip() for st in re.split(r";[ \t]*\n", text) if st.strip()]
    script = "\n".join(
        [*(f"{v};" for v in reference_variables(data)), ".timer on"]
        + [st.rstrip(";") + ";" for st in statements]
    )
    result = subprocess.run(
        [*duckdb_cli(), str(work / "reference-timed.duckdb"), "-bail"],
        input=script,
        capture_output=True,
        text=True,
        cwd=work,
        env=child_env(work),
    )
    times = [float(t) for t in re.findall(r"Run Time \(s\): real ([\d.]+)", result.stdout)]
    if result.returncode != 0 or len(times) != len(statements):
        return [{"statement": f"(timing failed: {result.stderr.strip()[-300:]})", "seconds": 0.0}]
    return [
        {"statement": " ".join(st.split())[:70], "seconds": t}
        for st, t in zip(statements, times, strict=True)
    ]


# --- output parity -------------------------------------------------------------------------------

CALL_COLUMNS = [
    *("source_id", "started_at", "ended_at", "duration_ms", "direction", "status"),
    *("from_phone", "to_phone", "status_raw", "from_phone_raw", "to_phone_raw"),
    *("recording_url", "participants", "source_file", "source_row", "content_hash", "job"),
]
REQUEST_COLUMNS = ["started_at", "body", "content_hash", "warnings"]
PARITY = (
    ("calls", "external_id", CALL_COLUMNS),
    ("v1_requests", "external_id", REQUEST_COLUMNS),
    ("v2_requests", "external_id", REQUEST_COLUMNS),
    (
        "rejected_records",
        "rejection_id",
        ["target", "reason", "field", "external_id", "source_row", "raw"],
    ),
    ("recordings", "call_sid", ["recording_url"]),
)


def parity(staging: Path, reference: Path) -> list[dict[str, Any]]:
    """Per table: rows on each side, keys on one side only, and columns that differ by key."""
    results = []
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"ATTACH '{staging}' AS es (READ_ONLY)")
        con.execute(f"ATTACH '{reference}' AS ref (READ_ONLY)")
        present = {
            (catalog, name)
            for catalog, name in con.execute(
                "SELECT table_catalog, table_name FROM information_schema.tables "
                "WHERE table_schema = 'engagements'"
            ).fetchall()
        }
        for table, key, columns in PARITY:
            a, b = f"es.engagements.{table}", f"ref.engagements.{table}"
            missing = [db for db in ("es", "ref") if (db, table) not in present]
            if missing:  # engagement-sync creates no table for a batch without rows
                rows = {
                    db: 0
                    if db in missing
                    else con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                    for db, t in (("es", a), ("ref", b))
                }
                results.append(
                    {
                        "table": table,
                        "engagement-sync": rows["es"],
                        "reference": rows["ref"],
                        "only engagement-sync": rows["es"],
                        "only reference": rows["ref"],
                        "differing": {f"(no table in {', '.join(missing)})": 0},
                    }
                )
                continue
            diffs = ", ".join(
                f"count(*) FILTER (a.{c}::VARCHAR IS DISTINCT FROM b.{c}::VARCHAR)" for c in columns
            )
            (es_rows,) = con.execute(f"SELECT count(*) FROM {a}").fetchone()
            (ref_rows,) = con.execute(f"SELECT count(*) FROM {b}").fetchone()
            (only_es,) = con.execute(
                f"SELECT count(*) FROM {a} a ANTI JOIN {b} b USING ({key})"
            ).fetchone()
            (only_ref,) = con.execute(
                f"SELECT count(*) FROM {b} b ANTI JOIN {a} a USING ({key})"
            ).fetchone()
            counts = con.execute(f"SELECT {diffs} FROM {a} a JOIN {b} b USING ({key})").fetchone()
            results.append(
                {
                    "table": table,
                    "engagement-sync": es_rows,
                    "reference": ref_rows,
                    "only engagement-sync": only_es,
                    "only reference": only_ref,
                    "differing": {c: n for c, n in zip(columns, counts, strict=True) if n},
                }
            )
    return results


# --- profile (in-process, step by step) ----------------------------------------------------------


def _memory() -> tuple[float, float]:
    """(current RSS, peak RSS since the last reset) in MiB, from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line[:5]] = int(line.split()[1]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current RSS
    except OSError:
        pass


class Steps:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def run(self, name: str, fn: Any, group: str = "step") -> Any:
        _reset_peak()
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
        rss, peak = _memory()
        self.rows.append(
            {"step": name, "group": group, "seconds": seconds, "rss_mib": rss, "peak_mib": peak}
        )
        return result


def _build_breakdown(steps: Steps, records: Any, settings: Any, job: str) -> None:
    """build_outputs' two ways of building, over all records at once: the SQL (vectorised.py)
    and, for the rows it does not cover, the per-row builders (builders.py)."""
    from sources.engagements import vectorised
    from sources.engagements.builders import build_v1_request, build_v2_request
    from sources.exports import outputs

    built = steps.run(
        "vectorised.build (DuckDB SQL, every record)",
        lambda: vectorised.build(records, settings, job, ("v1", "v2")),
        "build",
    )
    rest = records.filter(outputs.pc.invert(built.plain))
    rows = steps.run(
        f"_rows for the {rest.num_rows:,} records SQL leaves to Python",
        lambda: outputs._rows(rest),
        "build",
    )
    steps.run(
        "builders.py on those records (hash, v1, v2)",
        lambda: [
            (outputs.record_hash(r), build_v1_request(r, settings), build_v2_request(r, settings))
            for r in rows
        ],
        "build",
    )


def profile_stage(data: Path, work: Path, top: int = 14) -> dict[str, Any]:
    """The stage path of one Twilio job, piece by piece, as `stage()` runs it (partitioned
    when the input is bigger than one partition, like the CLI)."""
    steps = Steps()
    started = time.perf_counter()

    def imports() -> Any:
        import dlt

        import pipelines.cli  # noqa: F401  (what the CLI imports before it starts)
        from pipelines import stage as stage_module

        return dlt, stage_module

    dlt, stage_module = steps.run("import (dlt, pyarrow, product code)", imports)
    from pipelines import workspace
    from pipelines.jobs import build_settings, export_job, make_job
    from sources.exports import outputs, partitions, source
    from sources.exports.canonical import MapContext, MappedRows
    from sources.exports.presets import get_preset

    job = make_job("twilio", {"preset": "twilio", "path": str(data), "allow_unassociated": True})
    export = export_job(job, incremental=True)
    settings = build_settings(job)
    preset = get_preset(job.preset)
    files = [
        partitions.ExportFile(p.name, p.read_bytes, lambda p=p: p.open("rb"), p.stat().st_size)
        for p in sorted(data.glob("*.csv"))
    ]
    count = partitions.partition_count(files)
    spill = partitions.Spill(
        count, preset.partition_keys, preset.side_collections, preset.name_collections
    )
    steps.run(f"read + partition ({count} partitions)", lambda: spill.add(files))
    timings = {"map": 0.0, "build": 0.0}
    outs: list[Any] = []
    mapped_all: list[Any] = []

    def map_and_build() -> None:
        for p, sources in enumerate(spill.partitions()):
            t0 = time.perf_counter()
            side = spill.side_for(sources)
            context = MapContext(export.prefix, settings.source_system, export.default_region, side)
            mapped = preset.map_files(sources, context)
            mapped.lookups = spill.side_bucket(p)
            t1 = time.perf_counter()
            outs.append(outputs.build_outputs(mapped, settings, job.name, export.targets))
            timings["map"] += t1 - t0
            timings["build"] += time.perf_counter() - t1
            mapped_all.append(mapped.records)

    steps.run("map + build, all partitions", map_and_build)
    spill.close()
    mb = steps.rows.pop()
    for name in ("map", "build"):
        steps.rows.append({**mb, "step": f"{name} (partitions)", "seconds": timings[name]})
    records = outputs.pa.concat_tables(mapped_all)
    _build_breakdown(steps, records, settings, job.name)

    staging = work / "profile.duckdb"
    pipeline = stage_module.stage_pipeline(staging)

    @dlt.source(name="exports", max_table_nesting=0)
    def prebuilt() -> Any:
        @dlt.resource(name=f"{job.name}_records")
        def records_() -> Any:
            for out in outs:
                yield from source._hinted(out, export)

        return records_

    steps.run("prepare staging (schema, views; before extract)", lambda: workspace.prepare(staging))
    steps.run(
        "dlt extract (pre-built Arrow tables)",
        lambda: pipeline.extract(prebuilt(), loader_file_format="parquet"),
    )
    steps.run("dlt normalize", pipeline.normalize)
    steps.run("dlt load (merge into DuckDB)", pipeline.load)
    steps.run(
        "finish: prepare again (schema, views, checkpoint)", lambda: workspace.prepare(staging)
    )
    total = time.perf_counter() - started
    mapped = MappedRows(records)

    # which functions the per-row build spends its time in (cProfile, on up to 100k records)
    import cProfile
    import pstats

    sample = min(mapped.records.num_rows, 100_000)
    sample_rows = MappedRows(mapped.records.slice(0, sample))
    profiler = cProfile.Profile()
    profiler.enable()
    outputs.build_outputs(sample_rows, settings, job.name, export.targets)
    profiler.disable()
    stats = pstats.Stats(profiler)
    functions = sorted(
        (
            {
                "function": f"{Path(file).name}:{line}({name})",
                "calls": calls,
                "tottime": tottime,
                "cumtime": cumtime,
            }
            for (file, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items()  # type: ignore[attr-defined]
        ),
        key=lambda f: f["cumtime"],
        reverse=True,
    )
    return {
        "rows": sum(o.read for o in outs),
        "staged": records.num_rows,
        "steps": steps.rows,
        "total": total,
        "cprofile_rows": sample,
        "cprofile_total": sum(f["tottime"] for f in functions),
        "functions": [f for f in functions if f["cumtime"] > 0][: top * 3],
    }


def run_profile(data: Path, work: Path) -> dict[str, Any]:
    """profile_stage in a fresh process (clean memory, same imports as the CLI)."""
    work.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, __file__, "--_profile", str(data), "--_work", str(work)],
        cwd=work,
        env=child_env(work),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"profile failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- printing ------------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right if right is not None else set(range(1, len(header)))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def print_results(runs: list[Run], summaries: dict[int, dict[str, Any]]) -> list[str]:
    print("\nstage benchmark: engagement-sync stage vs pure DuckDB SQL (bench/stage_reference.sql)")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average now {load}; duckdb {duckdb.__version__}")
    for rows, s in sorted(summaries.items(), reverse=True):
        print(
            f"  {rows:,} rows: {s['calls_mib']:.0f} MiB calls CSV + {s['recordings']:,} recordings "
            f"({s['recordings_mib']:.0f} MiB); {s['child_legs']:,} child legs, "
            f"{s['orphan_legs']:,} orphan legs, {s['bad_rows']:,} bad rows, "
            f"{s['odd_numbers']:,} rows with a non-E.164 number"
        )
    print()
    body = [
        [
            f"{r.rows:,}",
            r.tool,
            f"{r.wall:.1f}",
            f"{r.rows_per_s:,.0f}",
            f"{r.peak_rss_mib:,.0f}",
            f"{r.ratio:.2f}" if r.ratio is not None else "",
        ]
        for r in runs
    ]
    print(
        table(
            ["rows", "tool", "wall s", "rows/s", "peak RSS MiB", "ratio to reference"],
            body,
            right={0, 2, 3, 4, 5},
        )
    )
    for r in runs:
        if r.tool == "engagement-sync" and r.info:
            i = r.info
            print(
                f"  engagement-sync {r.rows:,}: read {i.get('read'):,} staged {i.get('staged'):,} "
                f"folded {i.get('folded'):,} rejected {i.get('rejected'):,} "
                f"target_rejected {i.get('target_rejected')} (its own timer: {i.get('seconds')} s)"
            )

    es = {r.rows: r for r in runs if r.tool == "engagement-sync"}
    checks = []
    big = es.get(1_000_000)
    if big is not None and big.ratio is not None:
        ok = big.ratio <= RATIO_LIMIT
        checks.append(
            f"{'PASS' if ok else 'FAIL'}  ratio <= {RATIO_LIMIT:g} at 1,000,000 rows: "
            f"{big.ratio:.2f}"
        )
    else:
        checks.append("SKIP  ratio <= 3 at 1,000,000 rows: no 1,000,000-row run")
    worst = max(es.values(), key=lambda r: r.peak_rss_mib)
    checks.append(
        f"{'PASS' if worst.peak_rss_mib <= RSS_LIMIT_MIB else 'FAIL'}  peak RSS <= 2 GiB "
        f"({RSS_LIMIT_MIB} MiB), engagement-sync at every size: {worst.peak_rss_mib:,.0f} MiB "
        f"at {worst.rows:,} rows"
    )
    small = es.get(100_000)
    if big is not None and small is not None:
        growth = big.peak_rss_mib / small.peak_rss_mib
        checks.append(
            f"{'PASS' if growth <= RSS_GROWTH_LIMIT else 'FAIL'}  RSS(1M) <= {RSS_GROWTH_LIMIT} x "
            f"RSS(100k): {big.peak_rss_mib:,.0f} / {small.peak_rss_mib:,.0f} MiB = {growth:.2f} x"
        )
    else:
        checks.append("SKIP  RSS(1M) <= 1.5 x RSS(100k): needs both sizes")
    print("\ntargets")
    for check in checks:
        print(f"  {check}")
    return checks


def print_parity(rows: int, results: list[dict[str, Any]]) -> None:
    print(
        f"\noutput parity at {rows:,} rows (engagement-sync staging vs reference file; "
        "columns compared as text, by key)"
    )
    body = [
        [
            r["table"],
            f"{r['engagement-sync']:,}",
            f"{r['reference']:,}",
            f"{r['only engagement-sync']:,}",
            f"{r['only reference']:,}",
            ", ".join(f"{c}: {n:,}" if n else c for c, n in r["differing"].items()) or "none",
        ]
        for r in results
    ]
    print(
        table(
            [
                "table",
                "engagement-sync",
                "reference",
                "only e-s",
                "only ref",
                "differing columns (rows)",
            ],
            body,
            right={1, 2, 3, 4},
        )
    )


def print_profile(rows: int, profile: dict[str, Any], es: Run | None, ref: Run | None) -> None:
    print(
        f"\nprofile by step at {rows:,} rows (in-process, pieces called directly; "
        "peak = peak RSS during the step)"
    )
    steps = [s for s in profile["steps"] if s["group"] == "step"]
    pipeline_total = sum(s["seconds"] for s in steps)
    body = [
        [
            s["step"],
            f"{s['seconds']:.1f}",
            f"{100 * s['seconds'] / pipeline_total:.0f} %",
            f"{s['peak_mib']:,.0f}",
            f"{s['rss_mib']:,.0f}",
        ]
        for s in steps
    ]
    body.append(["sum of steps", f"{pipeline_total:.1f}", "100 %", "", ""])
    if es is not None:
        body.append(["engagement-sync stage, measured (CLI)", f"{es.wall:.1f}", "", "", ""])
    if ref is not None:
        body.append(["reference SQL, measured", f"{ref.wall:.1f}", "", "", ""])
    print(table(["step", "seconds", "share", "peak MiB", "RSS after MiB"], body))

    inner = [s for s in profile["steps"] if s["group"] == "build"]
    print("\nbuild, re-run over all records at once (the SQL, then Python for what it leaves)")
    inner_total = sum(s["seconds"] for s in inner)
    print(
        table(
            ["function", "seconds", "share", "peak MiB"],
            [
                [
                    s["step"].strip(),
                    f"{s['seconds']:.1f}",
                    f"{100 * s['seconds'] / inner_total:.0f} %",
                    f"{s['peak_mib']:,.0f}",
                ]
                for s in inner
            ]
            + [["sum", f"{inner_total:.1f}", "100 %", ""]],
        )
    )
    print(
        f"\nbuild_outputs under cProfile on {profile['cprofile_rows']:,} records: top functions "
        "by cumulative time (cProfile inflates per-call costs; read shares, not seconds)"
    )
    print(
        table(
            ["function", "calls", "tottime s", "cumtime s"],
            [
                [f["function"], f"{f['calls']:,}", f"{f['tottime']:.2f}", f"{f['cumtime']:.2f}"]
                for f in profile["functions"][:24]
            ],
        )
    )


def print_reference_statements(rows: int, statements: list[dict[str, Any]]) -> None:
    total = sum(s["seconds"] for s in statements)
    print(f"\nreference at {rows:,} rows, statement by statement (duckdb .timer; >= 0.05 s)")
    print(
        table(
            ["statement", "seconds", "share"],
            [
                [s["statement"], f"{s['seconds']:.1f}", f"{100 * s['seconds'] / total:.0f} %"]
                for s in statements
                if s["seconds"] >= 0.05
            ]
            + [["sum", f"{total:.1f}", "100 %"]],
        )
    )


def where_time_goes(rows: int, profile: dict[str, Any]) -> str:
    steps = sorted(
        (s for s in profile["steps"] if s["group"] == "step"),
        key=lambda s: s["seconds"],
        reverse=True,
    )
    total = sum(s["seconds"] for s in steps)
    top = "; ".join(
        f"{s['step']} {s['seconds']:.1f} s ({100 * s['seconds'] / total:.0f} %)" for s in steps[:4]
    )
    return f"at {rows:,} rows the time goes to: {top}"


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rows", default="1000000,100000", help="comma-separated sizes (rows in the calls CSV)"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep data and outputs in bench/data/stage/ (reused on the next run)",
    )
    parser.add_argument("--data-dir", type=Path, help="where to write data (default: a temp dir)")
    parser.add_argument("--profile", action="store_true", help="also profile the stage by step")
    parser.add_argument(
        "--no-check", dest="check", action="store_false", help="skip comparing the two outputs"
    )
    parser.add_argument(
        "--recordings-share",
        type=float,
        default=0.75,
        help="share of calls with a recording (0: header-only recordings file)",
    )
    parser.add_argument("--_profile", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._profile is not None:  # child process of run_profile
        print(json.dumps(profile_stage(args._profile, args._work)))
        return

    sizes = [int(s.replace("_", "")) for s in args.rows.split(",") if s.strip()]
    if args.data_dir is not None:
        root, temporary = args.data_dir, False
    elif args.keep:
        root, temporary = ROOT / "bench" / "data" / "stage", False
    else:
        root, temporary = Path(tempfile.mkdtemp(prefix="bench-stage-")), True
    root.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    summaries, parities, profiles, statements = {}, {}, {}, {}
    try:
        for rows in sizes:
            data = root / f"{rows}" / "exports"
            print(f"[{rows:,} rows] generating CSVs in {data} ...", flush=True)
            summaries[rows] = generate(data, rows, args.recordings_share)
            for old in (root / f"{rows}").glob("run-*"):  # outputs of an earlier --keep run
                shutil.rmtree(old, ignore_errors=True)
            work = root / f"{rows}" / f"run-{time.strftime('%Y%m%d-%H%M%S')}"
            print(f"[{rows:,} rows] engagement-sync stage ...", flush=True)
            es, staging = run_engagement_sync(data, work / "engagement-sync", rows)
            print(f"[{rows:,} rows]   {es.wall:.1f} s, {es.peak_rss_mib:,.0f} MiB", flush=True)
            print(f"[{rows:,} rows] reference (duckdb CLI) ...", flush=True)
            ref, reference = run_reference(data, work / "reference", rows)
            print(f"[{rows:,} rows]   {ref.wall:.1f} s, {ref.peak_rss_mib:,.0f} MiB", flush=True)
            es.ratio, ref.ratio = es.wall / ref.wall, 1.0
            runs += [es, ref]
            if args.check:
                parities[rows] = parity(staging, reference)
            if args.profile:
                print(f"[{rows:,} rows] profile ...", flush=True)
                profiles[rows] = run_profile(data, work / "profile")
                statements[rows] = reference_statements(data, work / "reference-timed")
            if not args.keep and args.data_dir is None:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)

    print_results(runs, summaries)
    for rows, results in parities.items():
        print_parity(rows, results)
    by_size = {(r.tool, r.rows): r for r in runs}
    for rows, profile in profiles.items():
        print_profile(
            rows, profile, by_size.get(("engagement-sync", rows)), by_size.get(("reference", rows))
        )
        if rows in statements:
            print_reference_statements(rows, statements[rows])
    over = [r for r in runs if r.tool == "engagement-sync" and (r.ratio or 0) > RATIO_LIMIT]
    if over:
        print()
        for r in over:
            if r.rows in profiles:
                print(
                    f"note: ratio {r.ratio:.1f} > {RATIO_LIMIT:g}; "
                    + where_time_goes(r.rows, profiles[r.rows])
                )
            else:
                print(
                    f"note: ratio {r.ratio:.1f} > {RATIO_LIMIT:g} at {r.rows:,} rows; "
                    "run with --profile to see where the time goes"
                )


if __name__ == "__main__":
    main()
