"""Running the sandbox: in a background thread (tests, demo) or in the foreground (the CLI).

Both bind 127.0.0.1 only. The socket is bound before uvicorn starts, so port 0 yields a free
port whose number is known at once, and a port already in use fails with a plain OSError.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .config import SandboxConfig
from .faults import FaultInjector
from .recordings import Recordings
from .store import Store

HOST = "127.0.0.1"
DEFAULT_CONFIG = SandboxConfig()
_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


def _bind(port: int) -> socket.socket:
    """A listening-ready TCP socket on 127.0.0.1:port (0 = any free port)."""
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only for such sockets;
    # without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno,
            f"cannot listen on {HOST}:{port} ({exc.strerror}); "
            "choose another --port or stop the process using it",
        ) from exc
    return sock


def _uvicorn_server(app: Starlette, port: int) -> uvicorn.Server:
    # log_config=None: never reconfigure the host program's logging; warnings still reach stderr.
    config = uvicorn.Config(
        app,
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        log_config=None,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


class SandboxServer:
    """A sandbox on 127.0.0.1 served by uvicorn in a background thread; a context manager.

    Several may run in one process, each with its own store, limits and port.
    """

    def __init__(self, config: SandboxConfig = DEFAULT_CONFIG, port: int = 0) -> None:
        self.config = config
        self.app = create_app(config)
        self.store: Store = self.app.state.store
        self.faults: FaultInjector = self.app.state.faults
        self.recordings: Recordings = self.app.state.recordings
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port being served (known once start() returned)."""
        if self._port is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        """HubSpot v1 base URL, e.g. http://127.0.0.1:PORT."""
        return f"http://{HOST}:{self.port}"

    @property
    def v2_base_url(self) -> str:
        """AskElephant v2 base URL, e.g. http://127.0.0.1:PORT/api."""
        return f"{self.base_url}/api"

    def fault_counts(self) -> dict[str, int]:
        """Create requests seen, engagements created/existing and each fault applied so far."""
        return self.faults.fault_counts()

    def start(self) -> SandboxServer:
        """Serve in a background thread; returns once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError(f"the sandbox already runs at {self.base_url}")
        sock = _bind(self._requested_port)
        port = sock.getsockname()[1]
        server = _uvicorn_server(self.app, port)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{port}", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(_STOP_TIMEOUT_S)
                sock.close()
                raise RuntimeError(f"the sandbox did not start on {HOST}:{port}")
            time.sleep(0.005)
        self._server, self._thread, self._port = server, thread, port
        return self

    def stop(self) -> None:
        """Shut uvicorn down gracefully, join its thread and release a file-backed store."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(_STOP_TIMEOUT_S)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT_S)
        self._server = self._thread = None
        self.store.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(config: SandboxConfig, port: int) -> None:
    """Serve the sandbox on 127.0.0.1:port in the foreground until Ctrl-C (for the CLI).

    Prints nothing itself. After a Ctrl-C, uvicorn shuts down cleanly and then re-raises the
    signal, so the caller sees KeyboardInterrupt.
    """
    app = create_app(config)
    sock = _bind(port)
    try:
        _uvicorn_server(app, sock.getsockname()[1]).run(sockets=[sock])
    finally:
        sock.close()
        app.state.store.close()
