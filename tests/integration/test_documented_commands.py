"""Every command line the README and examples/ show exists: the command and each of its flags
(so the docs a user copies from stay true), and the examples parse as what they are."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

import pytest
import typer

from pipelines.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# `engagement-sync <command> …` up to a shell operator, a backtick or the end of the line
COMMAND = re.compile(r"engagement-sync[ \t]+([a-z][a-z-]*)([^`>;&\n]*)")
FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def cli_options() -> dict[str, set[str]]:
    group = typer.main.get_command(app)
    assert hasattr(group, "commands")  # typer's own (vendored) click group
    options = {}
    for name, command in group.commands.items():
        flags = {"--help"}
        for param in command.params:
            flags |= set(param.opts) | set(param.secondary_opts)
        options[name] = flags
    return options


def uses(text: str) -> list[tuple[str, list[str]]]:
    # `a|b` in a usage line is a choice; ` | ` is a shell pipe, the end of the command
    return [(m.group(1), FLAG.findall(m.group(2).split(" | ")[0])) for m in COMMAND.finditer(text)]


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted(p for p in EXAMPLES.rglob("*") if p.is_file())]


def code_of(path: Path) -> str:
    """What a user runs: the README's code (fenced blocks and `inline` spans), a Python
    example's string constants, and the other examples' lines that are not comments."""
    text = path.read_text()
    if path.suffix == ".md":
        fenced = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
        inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        return "\n".join(fenced + inline).replace("\\|", "|")
    if path.suffix == ".py":
        tree = ast.parse(text)
        return "\n".join(
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and "\n" not in n.value
        )
    prose = ("#", "Description=")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(prose))


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_and_flag_shown_exists(path: Path) -> None:
    options = cli_options()
    text = code_of(path)
    wrong = [
        f"engagement-sync {command} {flag}"
        for command, flags in uses(text)
        for flag in ([""] if command not in options else flags)
        if command not in options or flag not in options[command]
    ]
    assert not wrong, f"{path.name} shows what the CLI does not have: {wrong}"


def test_the_readme_shows_commands_at_all() -> None:
    shown = {command for command, _ in uses(code_of(ROOT / "README.md"))}
    assert {"sync", "backfill", "status", "explain", "reconcile", "sql", "purge"} <= shown


def test_the_airflow_example_maps_one_task_per_job() -> None:
    tree = ast.parse((EXAMPLES / "airflow" / "engagement_sync_dag.py").read_text())
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert {"partial", "expand"} <= calls  # dynamic task mapping
    text = ast.unparse(tree)
    assert "ENGAGEMENT_SYNC__STAGING" in text and "--job" in text


def test_the_cron_lines_have_five_time_fields() -> None:
    lines = [
        line
        for line in (EXAMPLES / "cron" / "crontab").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert lines
    for line in lines:
        fields = line.split()
        assert all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), line
        assert "engagement-sync" in " ".join(fields[5:])


def test_the_systemd_units_parse_and_point_at_each_other() -> None:
    units = {}
    for name in ("engagement-sync.service", "engagement-sync.timer"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(EXAMPLES / "systemd" / name)
        units[name] = parser
    service, timer = units["engagement-sync.service"], units["engagement-sync.timer"]
    assert service["Service"]["Type"] == "oneshot"
    assert "engagement-sync sync" in service["Service"]["ExecStart"]
    assert timer["Timer"]["Unit"] == "engagement-sync.service"
    assert timer["Install"]["WantedBy"] == "timers.target"
