"""`sql` reads the staging and nothing else (DESIGN invariant 9, issue 12 point 3): every attack
is one line with exit 2, and the staging's bytes, its folder and the outside stay as they were."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.integration.staged import copy_staging, digest, stage_demo

runner = CliRunner()
OUTSIDE = "outside-file-content-7c1d"  # what an attack must never print

ATTACKS = {
    "copy over the staging": "COPY (SELECT 1) TO '{staging}'",
    "copy a table out": "COPY calls TO '{out}/calls.csv'",
    "copy from outside": "COPY calls FROM '{outside}'",
    "export database": "EXPORT DATABASE '{out}/dump'",
    "read_csv /etc/passwd": "SELECT * FROM read_csv('/etc/passwd')",
    "read_csv outside": "SELECT * FROM read_csv('{outside}')",
    "read_text outside": "SELECT * FROM read_text('{outside}')",
    "read_blob outside": "SELECT * FROM read_blob('{outside}')",
    "replacement scan": "SELECT * FROM '{outside}'",
    "sniff_csv": "SELECT * FROM sniff_csv('{outside}')",
    "glob /root": "SELECT * FROM glob('/root/*')",
    "glob the folder": "SELECT * FROM glob('{out}/*')",
    "url": "SELECT * FROM read_csv('https://example.com/x.csv')",
    "set": "SET memory_limit = '1GB'",
    "reset": "RESET search_path",
    "lock off": "SET lock_configuration = false",
    "two statements": "SELECT 1; SELECT 2",
    "a write after a read": "SELECT 1; DELETE FROM calls",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "attach": "ATTACH '{out}/other.duckdb' AS other",
    "detach": "DETACH other",
    "use": "USE memory",
    "pragma": "PRAGMA enable_profiling",
    "call checkpoint": "CALL checkpoint()",
    "checkpoint": "CHECKPOINT",
    "vacuum": "VACUUM",
    "delete": "DELETE FROM calls",
    "update": "UPDATE calls SET title = NULL",
    "insert": "INSERT INTO runs (run_id) VALUES ('x')",
    "drop": "DROP TABLE deliveries",
    "create temp": "CREATE TEMP TABLE t AS SELECT 1",
    "create macro": "CREATE MACRO m() AS 1",
    "begin": "BEGIN TRANSACTION",
    "prepare": "PREPARE p AS SELECT 1",
    "explain analyze copy": "EXPLAIN ANALYZE COPY (SELECT 1) TO '{staging}'",
    "explain analyze delete": "EXPLAIN ANALYZE DELETE FROM calls",
    "explain (options) delete": "EXPLAIN (FORMAT json) DELETE FROM calls",
    "query() of a pragma": "SELECT * FROM query('PRAGMA enable_profiling')",
    "not sql": "this is not sql",
}

QUERIES = {
    "select": "SELECT count(*) AS n FROM calls",
    "with": "WITH c AS (SELECT * FROM calls) SELECT count(*) AS n FROM c",
    "from first": "FROM calls SELECT count(*) AS n",
    "describe": "DESCRIBE calls",
    "show": "SHOW TABLES",
    "summarize": "SUMMARIZE v2_requests",
    "explain": "EXPLAIN SELECT * FROM calls",
    "explain analyze": "EXPLAIN ANALYZE SELECT count(*) FROM calls",
    "values": "VALUES (1, 'a')",
    "table": "TABLE jobs",
    "pragma show_tables": "PRAGMA show_tables",
    "trailing semicolon": "SELECT 1 AS n;",
}


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stage_demo(tmp_path_factory.mktemp("sql-guard"))


@pytest.fixture
def staging(original: Path, tmp_path: Path) -> Path:
    return copy_staging(original, tmp_path)


def folder_state(folder: Path) -> dict[str, str]:
    return {str(p): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("query", ATTACKS.values(), ids=ATTACKS.keys())
def test_an_attack_is_one_line_exit_2_and_changes_nothing(
    query: str, staging: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside" / "secret.csv"
    outside.parent.mkdir()
    outside.write_text(f"a,b\n{OUTSIDE},1\n")
    out = tmp_path / "out"
    out.mkdir()
    before = folder_state(tmp_path)
    text = query.format(staging=staging, out=out, outside=outside)
    result = runner.invoke(app, ["sql", text, "--staging", str(staging)])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert OUTSIDE not in result.stdout + result.stderr
    assert "root:" not in result.stdout + result.stderr
    assert folder_state(tmp_path) == before  # the staging byte for byte, no file written


def rows_of(stdout: str) -> list[dict]:
    """`sql --json` prints JSON Lines: one object per row."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
def test_read_only_kinds_work_and_leave_the_file_as_it_was(query: str, staging: Path) -> None:
    before = folder_state(staging.parent)
    result = runner.invoke(app, ["sql", query, "--staging", str(staging), "--json"])
    assert result.exit_code == 0, result.output
    assert rows_of(result.stdout)
    assert folder_state(staging.parent) == before


def test_tables_resolve_unqualified_and_counts_are_right(staging: Path) -> None:
    result = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM calls", "--json"])
    assert result.exit_code == 0, result.output
    assert rows_of(result.stdout) == [{"n": 240}]  # the demo data's staged calls
