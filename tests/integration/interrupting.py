"""Ctrl-C at an event, for the interrupt tests: SIGINT a real `engagement-sync push` when the
sandbox has stored its Nth create, hold later creates in flight until the child says it stops
taking new sends, and collect what it printed."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from destinations.sandbox import SandboxServer

NTH = 3  # SIGINT when the sandbox has stored this many creates
CONCURRENCY = 2


class Interrupter:
    """From the sandbox's create callback: SIGINT at the Nth create; later creates wait (are
    held in flight) until the child says it stopped taking new sends, then, with `twice`,
    a second SIGINT while they are still in flight."""

    def __init__(self, twice: bool) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.twice = twice
        self.creates = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.stderr: list[str] = []

    def __call__(self, api: str) -> None:
        assert self.process is not None
        with self.lock:
            self.creates += 1
            if self.creates == NTH:
                self.process.send_signal(signal.SIGINT)
        if self.creates >= NTH:
            assert self.stopping.wait(30), "the child never said it was stopping"
            if self.twice:
                with self.lock:
                    if self.process.poll() is None:
                        self.process.send_signal(signal.SIGINT)

    def read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode()
            self.stderr.append(line)
            if line.startswith("stopping:"):
                self.stopping.set()
        self.stopping.set()  # the child ended: never leave the sandbox waiting


def run_push(
    staging: Path,
    target: str,
    env: dict[str, str],
    interrupter: Interrupter | None,
    sandbox: SandboxServer,
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `push --target TARGET --json`, interrupted as asked."""
    command = [sys.executable, "-m", "pipelines.cli", "push", "--staging", str(staging)]
    process = subprocess.Popen(
        [*command, "--target", target, "--json"],
        env=env,
        cwd=staging.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if interrupter is None:
        out, err = process.communicate(timeout=300)
        return process.returncode, out.decode(), err.decode()
    interrupter.process = process
    reader = threading.Thread(target=interrupter.read_stderr, daemon=True)
    unsubscribe = sandbox.store.watch_creates(interrupter)
    reader.start()
    try:
        assert process.stdout is not None
        out = process.stdout.read().decode()
        process.wait(timeout=300)
    finally:
        unsubscribe()
        interrupter.stopping.set()
    reader.join(timeout=60)
    return process.returncode, out, "".join(interrupter.stderr)
