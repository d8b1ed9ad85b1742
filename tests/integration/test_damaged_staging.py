"""A damaged staging is named as such (issue 12 point 10): corrupt block, truncated, empty or
junk file -> one line, exit 1, how to recover; never "in use", never a traceback. A staging
really locked by DuckDB still says who holds it; a read-only one can be read, not written."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from destinations.sandbox import SandboxServer
from pipelines.cli import app
from pipelines.demo import DEMO_DATA
from tests.integration.conftest import FAST
from tests.integration.staged import copy_staging, stage_demo

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
HEADERS = 3 * 4096  # DuckDB's file header and its two database headers precede block 0
V2_TOKEN = "DESTINATION__ENGAGEMENTS_V2__API_TOKEN"
JOB = ["--preset", "twilio", "--path", str(DEMO_DATA / "exports"), "--prefix", "demo-twilio"]


@pytest.fixture(scope="module")
def api() -> Iterator[SandboxServer]:
    with SandboxServer(FAST) as server:
        yield server


@pytest.fixture
def env(api: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """v2 on the sandbox: a push checks the API before it opens the staging."""
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__BASE_URL", api.v2_base_url)
    monkeypatch.setenv(V2_TOKEN, api.config.token)


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stage_demo(tmp_path_factory.mktemp("damage"))


def junk(path: Path) -> None:
    path.write_bytes(b"not a database, just junk\n" * 500)


def empty(path: Path) -> None:
    path.write_bytes(b"")


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt_block(path: Path) -> None:
    """Flip bytes inside the data block that holds `calls`: DuckDB's checksum catches it."""
    with duckdb.connect(str(path), read_only=True) as con:
        [(block_size,)] = con.execute("SELECT block_size FROM pragma_database_size()").fetchall()
        [(block,)] = con.execute(
            "SELECT min(block_id) FROM pragma_storage_info('engagements.calls') WHERE block_id >= 0"
        ).fetchall()
    data = bytearray(path.read_bytes())
    start = HEADERS + block * block_size + 4096
    data[start : start + 64] = bytes(b ^ 0xFF for b in data[start : start + 64])
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "junk": junk,
    "empty": empty,
    "truncated": truncated,
    "corrupt block": corrupt_block,
}
COMMANDS = {
    "status": ["status"],
    "sql": ["sql", "SELECT * FROM calls"],
    "explain": ["explain", "demo-twilio:CA00000000000000000000000000000001"],
    "stage": ["stage", *JOB],
    "push": ["push", "--target", "v2", "--dry-run"],
}


def assert_one_line(result: object, code: int, *words: str) -> None:
    out = result.stderr  # type: ignore[attr-defined]
    assert result.exit_code == code, result.output  # type: ignore[attr-defined]
    assert isinstance(result.exception, SystemExit)  # type: ignore[attr-defined]
    assert len(out.splitlines()) == 1 and "Traceback" not in out
    assert all(word in out for word in words), out


# A corrupt block of `calls` is found by what reads it: status counts from metadata, explain
# and a push of v2 never read that block.
CASES = [
    pytest.param(damage, command, id=f"{d}-{c}")
    for d, damage in DAMAGE.items()
    for c, command in COMMANDS.items()
    if not (damage is corrupt_block and c in ("status", "explain", "push"))
]


@pytest.mark.parametrize(("damage", "command"), CASES)
def test_a_damaged_staging_is_named_damaged_with_exit_1(
    damage: Callable[[Path], None], command: list[str], original: Path, tmp_path: Path, env: None
) -> None:
    staging = copy_staging(original, tmp_path)
    damage(staging)
    result = runner.invoke(app, [*command, "--staging", str(staging)])
    assert_one_line(result, 1, "damaged", "mv ", "engagement-sync reconcile", "stage again")
    assert "in use" not in result.stderr


def test_a_staging_locked_by_duckdb_names_the_holder(original: Path, tmp_path: Path) -> None:
    staging = copy_staging(original, tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\ncon = duckdb.connect(sys.argv[1])\n"
            "print('held', flush=True)\ntime.sleep(60)",
            str(staging),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        for command in (["status"], ["sql", "SELECT 1"], ["stage", *JOB]):
            result = runner.invoke(app, [*command, "--staging", str(staging)])
            assert_one_line(result, 3, f"in use by process {holder.pid}")
    finally:
        holder.kill()
        holder.wait()


def _drop_file_override() -> None:
    """Root ignores file modes; without CAP_DAC_OVERRIDE / _READ_SEARCH it obeys them."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


DRIVER = """
import json, sys
from typer.testing import CliRunner
from destinations.sandbox import SandboxServer
from pipelines.cli import app
out = []
for args in json.loads(sys.argv[1]):
    r = CliRunner().invoke(app, args)
    out.append([r.exit_code, r.stdout, r.stderr, isinstance(r.exception, (SystemExit, type(None)))])
print(json.dumps(out))
"""


def run_as_plain_user(commands: list[list[str]], cwd: Path) -> list[list]:
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(commands)],
        cwd=cwd,
        # a v2 token: status names the destination by its fingerprint, read from the file
        env={**os.environ, "PYTHONPATH": str(ROOT), V2_TOKEN: "tok-5ecret-read-only"},
        preexec_fn=_drop_file_override if os.geteuid() == 0 else None,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_staging_is_read_and_not_written(
    what: str, original: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    staging = copy_staging(original, folder)
    with duckdb.connect(str(staging)) as con:  # as a push leaves it: v2 named by fingerprint
        con.execute("INSERT INTO engagements._meta VALUES ('destination_key', ?)", ["00" * 32])
    before = staging.read_bytes()
    staging.chmod(0o444)
    if what == "folder":
        folder.chmod(0o555)
    s = ["--staging", str(staging)]
    try:
        status, explain, sql, stage, push = run_as_plain_user(
            [
                ["status", "--json", *s],
                ["explain", "demo-twilio:CA00000000000000000000000000000001", "--json", *s],
                ["sql", "SELECT count(*) AS n FROM calls", "--json", *s],
                ["stage", *JOB, *s],
                ["push", "--target", "v2", *s],
            ],
            tmp_path,
        )
    finally:
        folder.chmod(0o755)
        staging.chmod(0o644)
    assert status[0] == 0 and json.loads(status[1])["staged"]["calls"] == 240, status
    assert explain[0] == 0 and json.loads(explain[1])["record"], explain
    assert sql[0] == 0 and [json.loads(line) for line in sql[1].splitlines()] == [{"n": 240}], sql
    for code, _, err, clean in (stage, push):
        assert code == 1 and clean and len(err.splitlines()) == 1, err
        assert "read-only" in err and "status" in err
    assert staging.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == [staging.name]  # no .wal, no .lock


def test_stderr_of_a_real_run_is_one_line_when_dlt_meets_the_damage(
    original: Path, tmp_path: Path
) -> None:
    """dlt logs a traceback per retry of a load job that fails; those are dropped."""
    staging = copy_staging(original, tmp_path)
    corrupt_block(staging)
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "stage", *JOB, "--staging", str(staging)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1 and "damaged (Corrupt database file" in done.stderr
