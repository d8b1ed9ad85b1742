"""The dlt custom destination: one thin function, used as `engagements_v1` and `engagements_v2`.

dlt calls it with batches of staged requests (Arrow record batches) from several load threads.
It hands them to the run's Pusher, which holds the HTTP client, the ledger connection and the
rate limiter. Record-level rejections are written to the ledger and the call returns normally;
it raises only to stop the run (dlt_notes.md: a raising sink is retried and its package kept).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import dlt
from dlt.common.destination.exceptions import DestinationTerminalException
from dlt.common.typing import TDataItems, TSecretStrValue

from destinations.engagements.client import EngagementsClient
from destinations.engagements.delivery import PendingRequest, Pusher, PushOptions
from destinations.engagements.errors import StopRunError
from destinations.engagements.ledger import Ledger
from destinations.engagements.ratelimit import make_limiter
from destinations.engagements.staging_db import connect

DEFAULT_BASE_URLS = {"v1": "https://api.hubapi.com", "v2": "https://app.askelephant.ai/api"}

_registry: dict[tuple[str, str], Pusher] = {}
_registry_lock = threading.Lock()


@dataclass(frozen=True)
class RunSpec:
    """Everything a run's Pusher is built from (also the sink's config keys)."""

    target: str
    base_url: str
    api_token: str
    staging: str
    destination_id: str
    run_id: str
    run_workflows: bool = True
    rate_per_second: float = 10.0
    timeout: float = 60.0
    max_attempts: int = 5
    wait_initial: float = 0.5


def start_run(spec: RunSpec) -> Pusher:
    """The Pusher for (run_id, target), created on first use."""
    key = (spec.run_id, spec.target)
    with _registry_lock:
        if key not in _registry:
            client = EngagementsClient(
                spec.target, spec.base_url, spec.api_token, timeout=spec.timeout
            )
            ledger = Ledger(connect(spec.staging), spec.destination_id, spec.target, spec.run_id)
            limiter = make_limiter(spec.rate_per_second)
            options = PushOptions(
                spec.target, spec.run_workflows, spec.max_attempts, spec.wait_initial
            )
            _registry[key] = Pusher(client, ledger, limiter, options)
        return _registry[key]


def finish_run(run_id: str, target: str) -> Pusher | None:
    """Close the run's client and ledger connection; returns the Pusher (counts, stop reason)."""
    with _registry_lock:
        pusher = _registry.pop((run_id, target), None)
    if pusher is not None:
        pusher.client.close()
        pusher.ledger.close()
    return pusher


def push_requests(
    items: TDataItems,
    table: dict[str, Any],
    target: str,
    base_url: str,
    api_token: str,
    staging: str,
    destination_id: str,
    run_id: str,
    run_workflows: bool,
    rate_per_second: float,
) -> None:
    spec = RunSpec(
        target,
        base_url,
        api_token,
        staging,
        destination_id or base_url,
        run_id,
        run_workflows,
        rate_per_second,
    )
    rows = items.to_pylist() if hasattr(items, "to_pylist") else list(items)
    pending = [PendingRequest(r["external_id"], r["body"], r["content_hash"]) for r in rows]
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
    ) -> None:
        push_requests(
            items,
            table,
            target,
            base_url,
            api_token,
            staging,
            destination_id,
            run_id,
            run_workflows,
            rate_per_second,
        )

    sink.__name__ = f"engagements_{target}"
    return dlt.destination(
        sink,
        name=f"engagements_{target}",
        batch_size=50,
        loader_file_format="parquet",
        naming_convention="direct",
        max_table_nesting=0,
        skip_dlt_columns_and_tables=True,
    )


engagements_v1 = _sink("v1")
engagements_v2 = _sink("v2")

__all__ = ["RunSpec", "engagements_v1", "engagements_v2", "finish_run", "start_run"]
