"""Peak RSS of `engagement-sync stage` on one big cell that many rows name (issue 12, point 7).

    python bench/fanout.py [--rows 10,40,200] [--cell-mb 10] [--shape twilio-recording]

Each shape is one big cell plus N small rows that all point at it; before the fix the cell was
copied into every one of them (Twilio: a recording whose call_sid is the own sid of N child
legs under N parents; RingCentral: a telephonySessionId lent to the N other legs of its
session). Stage runs in a fresh process with the per-cell limit (FIELD_LIMIT_BYTES) raised, so
the cell is read, not refused: memory must not grow with N. Prints shape, N, peak RSS MiB.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the CLI with the per-cell limit raised: the bench measures what the rows hold, not the screen
STAGE = (
    "import sys; from sources.exports import collection, screen; "
    "collection.FIELD_LIMIT_BYTES = screen.FIELD_LIMIT_BYTES = 1 << 40; "
    "from pipelines.cli import app; sys.argv = ['engagement-sync', *sys.argv[1:]]; app()"
)
CALL = {"from": "+14155550100", "to": "+14155552671", "start_time": "2024-04-15T14:00:00Z"}


def twilio_recording(folder: Path, rows: int, cell: int) -> str:
    with open(folder / "calls.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["sid", "parent_call_sid", *CALL])
        writer.writeheader()
        writer.writerows({"sid": "1", "parent_call_sid": f"P{i}", **CALL} for i in range(rows))
    with open(folder / "recordings.csv", "w", newline="") as fh:
        rows_writer = csv.writer(fh)
        rows_writer.writerow(["sid", "call_sid", "status", "media_url"])
        rows_writer.writerow(["RE1", "1", "completed", "https://api.twilio.com/" + "a" * cell])
    return "twilio"


def ringcentral_session(folder: Path, rows: int, cell: int) -> str:
    def leg(i: int, tsid: str | None) -> dict[str, object]:
        start = "2024-04-15T14:00:00.000Z"
        return {"id": f"r{i}", "sessionId": "1", "telephonySessionId": tsid, "startTime": start}

    legs = [leg(0, "s" * cell)] + [leg(i, None) for i in range(1, rows + 1)]
    (folder / "calls.json").write_text(json.dumps({"records": legs}))
    return "ringcentral"


SHAPES: dict[str, Callable[[Path, int, int], str]] = {
    "twilio-recording": twilio_recording,
    "ringcentral-session": ringcentral_session,
}


def peak_rss_mib(shape: str, rows: int, cell: int) -> tuple[int, int]:
    """(peak RSS MiB, exit code) of one stage in a fresh process (RUSAGE_CHILDREN of a helper
    process that runs only that stage, so no earlier run's peak is counted)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "exports"
        folder.mkdir()
        preset = SHAPES[shape](folder, rows, cell)
        stage = [sys.executable, "-c", STAGE, "stage", "--staging", f"{tmp}/s.duckdb"]
        stage += ["--preset", preset, "--path", str(folder), "--allow-unassociated", "--json"]
        probe = (
            "import resource, subprocess, sys; "
            "code = subprocess.run(sys.argv[1:], capture_output=True).returncode; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", probe, *stage], cwd=tmp, env=env, capture_output=True, text=True
        )
        kib, code = out.stdout.split()
        return int(kib) >> 10, int(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10,40,200")
    parser.add_argument("--cell-mb", type=float, default=10.0)
    parser.add_argument("--shape", choices=sorted(SHAPES), action="append")
    args = parser.parse_args()
    cell = int(args.cell_mb * (1 << 20))
    print(f"{'shape':<22} {'N':>5}  {'peak RSS MiB':>12}  exit")
    for shape in args.shape or list(SHAPES):
        for rows in (int(n) for n in args.rows.split(",")):
            rss, code = peak_rss_mib(shape, rows, cell)
            print(f"{shape:<22} {rows:>5}  {rss:>12,}  {code}")


if __name__ == "__main__":
    main()
