"""The dlt custom destination: one thin function, used as `engagements_v1` and `engagements_v2`.

dlt calls it with batches of staged requests (Arrow record batches) from its load threads. It
hands them to the run's Pusher, which holds the HTTP client, the ledger connection, the pacing
gate and a pool of senders. Record-level rejections are written to the ledger and the call
returns normally; it raises only to stop the run (dlt_notes.md: a raising sink is retried).

`push` (pipelines/push.py) registers the run's Pusher before loading, with everything resolved;
used on its own, the destination builds one from its config keys (`[destination.engagements_v2]`
base_url, api_token, staging, …).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.destination.exceptions import DestinationTerminalException
from dlt.common.typing import TDataItems, TSecretStrValue

from destinations.engagements.client import EngagementsClient
from destinations.engagements.delivery import PendingRequest, Pusher, PushOptions
from destinations.engagements.ledger import Ledger
from destinations.engagements.progress import Progress
from destinations.engagements.ratelimit import SendGate
from destinations.engagements.relay import Relay, RelayConfig
from destinations.engagements.staging_db import connect
from sources.errors import StopRunError

DEFAULT_BASE_URLS = {"v1": "https://api.hubapi.com", "v2": "https://app.askelephant.ai/api"}
BATCH_SIZE = 200

_registry: dict[tuple[str, str], Pusher] = {}
_registry_lock = threading.Lock()


@dataclass(frozen=True)
class RunSpec:
    """Everything a run's Pusher is built from."""

    target: str
    base_url: str
    api_token: str
    staging: str
    destination_id: str
    run_id: str
    run_workflows: bool = True
    rate_per_second: float = 10.0
    max_concurrency: int = 8
    timeout: float = 60.0
    verify: str | bool = True  # a CA bundle path, for corporate proxies
    max_attempts: int = 5
    wait_initial: float = 0.5
    total: int = 0  # records to send, for progress; 0 = no progress output
    run_workflows_by_job: dict[str, bool] = field(default_factory=dict)  # jobs' own settings
    burst: int = 1  # sends that may go back to back; 1 = evenly spaced
    relays: dict[str, RelayConfig] = field(default_factory=dict)  # v2: jobs' relays, by job

    def __repr__(self) -> str:  # never print the token
        return f"RunSpec(target={self.target!r}, destination_id={self.destination_id!r})"


def start_run(spec: RunSpec) -> Pusher:
    """The Pusher for (run_id, target), created on first use."""
    key = (spec.run_id, spec.target)
    with _registry_lock:
        if key not in _registry:
            client = EngagementsClient(
                spec.target, spec.base_url, spec.api_token, timeout=spec.timeout, verify=spec.verify
            )
            ledger = Ledger(connect(spec.staging), spec.destination_id, spec.target, spec.run_id)
            # v1: pause before HubSpot's window runs out; the senders in flight still need room.
            gate = SendGate(
                spec.rate_per_second,
                low_water=spec.max_concurrency if spec.target == "v1" else -1,
                burst=spec.burst,
            )
            options = PushOptions(
                spec.target,
                spec.run_workflows,
                spec.max_attempts,
                spec.wait_initial,
                max_concurrency=spec.max_concurrency,
                run_workflows_by_job=spec.run_workflows_by_job,
            )
            progress = Progress(spec.target, spec.total) if spec.total else None
            relays = {job: Relay(config) for job, config in spec.relays.items()}
            _registry[key] = Pusher(client, ledger, gate, options, progress, relays)
        return _registry[key]


def finish_run(run_id: str, target: str) -> Pusher | None:
    """Close the run's senders, client and ledger; returns the Pusher (counts, stop reason)."""
    with _registry_lock:
        pusher = _registry.pop((run_id, target), None)
    if pusher is not None:
        try:
            pusher.drain()  # the last batches' sends are still under way
        except BaseException as exc:
            pusher.failure = exc
        pusher.close()
        pusher.client.close()
        pusher.ledger.close()
        for relay in pusher.relays.values():
            relay.close()
    return pusher


def push_batch(items: TDataItems, spec: RunSpec) -> None:
    rows = items.to_pylist() if hasattr(items, "to_pylist") else list(items)
    pending = [
        PendingRequest(r["external_id"], r["body"], r["content_hash"], r.get("job")) for r in rows
    ]
    try:
        start_run(spec).push(pending)
    except StopRunError as exc:
        # Terminal for dlt: no blind retries of this batch; the ledger keeps everything pending.
        raise DestinationTerminalException(str(exc)) from exc


def _sink(target: str) -> Any:
    def sink(
        items: TDataItems,
        table: Any,
        base_url: str = DEFAULT_BASE_URLS[target],
        api_token: TSecretStrValue = dlt.secrets.value,
        staging: str = dlt.config.value,
        destination_id: str = "",
        run_id: str = "default",
        run_workflows: bool = True,
        rate_per_second: float = 10.0,
        max_concurrency: int = 8,
    ) -> None:
        push_batch(
            items,
            RunSpec(
                target,
                base_url,
                api_token,
                staging,
                destination_id or base_url,
                run_id,
                run_workflows,
                rate_per_second,
                max_concurrency,
            ),
        )

    sink.__name__ = f"engagements_{target}"
    return dlt.destination(
        sink,
        name=f"engagements_{target}",
        batch_size=BATCH_SIZE,
        loader_file_format="parquet",
        naming_convention="direct",
        max_table_nesting=0,
        skip_dlt_columns_and_tables=True,
    )


engagements_v1 = _sink("v1")
engagements_v2 = _sink("v2")

__all__ = ["RunSpec", "engagements_v1", "engagements_v2", "finish_run", "start_run"]
