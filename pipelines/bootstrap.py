"""Quick start from a fresh clone: set up once, then run the demo or the test suite.

    python3 -m pipelines.bootstrap demo     # engagement-sync demo (installs what running needs)
    python3 -m pipelines.bootstrap test     # the full test suite (adds the dev extras; CI runs it)

Standard library only, so it runs before anything is installed. It installs into the active
virtualenv when there is one, otherwise into `.venv` (created on first use), pinned by
.ci/constraints.txt, and skips the install when pyproject.toml and the constraints are unchanged.
Extra arguments go to the command (e.g. `test -k sandbox`, `demo --json`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / ".ci" / "constraints.txt"
COMMANDS = {"demo": ["-m", "pipelines.cli", "demo"], "test": ["-m", "pytest"]}
EXTRAS = {"demo": "", "test": "[dev]"}  # running needs no test or lint tools


def interpreter() -> Path:
    """The active virtualenv's python, or .venv's (created if missing)."""
    if sys.prefix != sys.base_prefix:
        return Path(sys.executable)
    env = ROOT / ".venv"
    python = env / "bin" / "python"
    if not python.exists():
        print(f"bootstrap: creating {env}", flush=True)
        venv.EnvBuilder(with_pip=True).create(env)
    return python


def _digest(extras: str) -> str:
    pins = (ROOT / "pyproject.toml").read_bytes() + CONSTRAINTS.read_bytes()
    return hashlib.sha256(pins + extras.encode()).hexdigest()


def install(python: Path, extras: str = "") -> None:
    """pip install -e .{extras} with the pinned constraints, unless already done for these
    pins (an install with the dev extras serves a later demo too)."""
    prefix = subprocess.run(
        [str(python), "-c", "import sys; print(sys.prefix)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    stamp = Path(prefix) / f".engagement-sync-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}"
    done = set(stamp.read_text().split()) if stamp.exists() else set()
    wanted = _digest(extras)
    if wanted in done or _digest("[dev]") in done:
        return
    print("bootstrap: installing engagement-sync and its pinned dependencies", flush=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(CONSTRAINTS),
            "-e",
            f"{ROOT}{extras}",
        ],
        check=True,
    )
    current = {_digest(""), _digest("[dev]")}  # entries of older pins are dropped
    stamp.write_text(" ".join(sorted((done & current) | {wanted})))


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(
            f"usage: python3 -m pipelines.bootstrap {{{'|'.join(COMMANDS)}}} [args...]",
            file=sys.stderr,
        )
        return 2
    python = interpreter()
    install(python, EXTRAS[argv[0]])
    os.chdir(ROOT)
    return subprocess.call([str(python), *COMMANDS[argv[0]], *argv[1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
