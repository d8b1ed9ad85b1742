"""The dlt custom destination: `engagements_v1` and `engagements_v2`, configured the dlt way.

Every parameter is a documented key of `[destination.engagements_v1]` / `[...engagements_v2]`
(base_url, api_token, requests_per_10s or requests_per_second, max_concurrency, timeout,
ca_bundle, burst, destination_id, and staging: the DuckDB file whose ledger records each
delivery), resolved by dlt from explicit arguments, the environment
(`DESTINATION__ENGAGEMENTS_V2__API_TOKEN`), secrets.toml and config.toml. So the destination
works in anyone's dlt pipeline with those keys, as `engagement-sync push` uses it.

dlt hands the sink each load file whole (`batch_size=0`): it streams the file's record
batches into the run's Pusher (HTTP client, ledger connection, pacing gate and a pool of
senders), so sends overlap across batches, and waits for them before returning: when dlt marks
the file loaded, every record in it is delivered, rejected or recorded pending. Record-level
rejections are written to the ledger and the call returns normally; it raises only to stop the
run (dlt_notes.md: a raising sink is retried). Runs keep their Pusher here between files, keyed
by staging, target and run id; `finish_run` (or interpreter exit) closes it.
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import pyarrow.parquet as pq
from dlt.common.destination.exceptions import DestinationTerminalException
from dlt.common.typing import TDataItems, TSecretStrValue

from destinations.engagements.client import EngagementsClient
from destinations.engagements.delivery import PendingRequest, Pusher, PushOptions
from destinations.engagements.ledger import Ledger, ensure_ledger
from destinations.engagements.naming import name_destination
from destinations.engagements.progress import Progress
from destinations.engagements.ratelimit import SendGate
from destinations.engagements.relay import Relay, RelayConfig
from destinations.engagements.staging_db import connect
from sources.errors import ConfigError, StopRunError

DEFAULT_BASE_URLS = {"v1": "https://api.hubapi.com", "v2": "https://app.askelephant.ai/api"}
DEFAULT_RATES = {"v1": 100 / 10, "v2": 10.0}  # requests per second
# v2 creates are slow (the server fetches the media during the request): more in flight.
DEFAULT_CONCURRENCY = {"v1": 4, "v2": 8}
READ_BATCH = 1000  # rows per record batch read from a load file

_pushers: dict[tuple[str, str, str], Pusher] = {}
_pushers_lock = threading.Lock()


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


def _key(spec: RunSpec) -> tuple[str, str, str]:
    return (spec.staging, spec.target, spec.run_id)


def start_run(spec: RunSpec) -> Pusher:
    """The run's Pusher, created on first use (from the first load file on)."""
    key = _key(spec)
    with _pushers_lock:
        if key not in _pushers:
            client = EngagementsClient(
                spec.target, spec.base_url, spec.api_token, timeout=spec.timeout, verify=spec.verify
            )
            con = connect(spec.staging)
            destination = spec.destination_id or _named(con, spec, client)
            ledger = Ledger(con, destination, spec.target, spec.run_id)
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
            _pushers[key] = Pusher(client, ledger, gate, options, progress, relays)
        return _pushers[key]


def _named(con: Any, spec: RunSpec, client: EngagementsClient) -> str:
    """No destination_id: the destination names itself (naming.py)."""
    ensure_ledger(con)
    try:
        return name_destination(con, spec.target, spec.base_url, spec.api_token, client)
    except BaseException:
        con.close()
        client.close()
        raise


def active_pushers() -> list[Pusher]:
    """The Pushers of the runs under way in this process (Ctrl-C stops their new sends)."""
    return list(_pushers.values())


def finish_run(staging: str, target: str, run_id: str) -> Pusher | None:
    """Close the run's senders, client and ledger; returns the Pusher (counts, stop reason)."""
    with _pushers_lock:
        pusher = _pushers.pop((staging, target, run_id), None)
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


class OwnStopsLogFilter(logging.Filter):
    """Drops dlt's log records about a load job this sink stopped on purpose (a refused token,
    Ctrl-C, the daily quota: a StopRunError under dlt's terminal exception): dlt logs a
    traceback per job, and the run already ends with one line saying what to do."""

    _AFTER = ("failed terminally", "was not fully loaded")  # dlt's follow-ups of that job

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else getattr(record, "exc_value", None)
        if any(isinstance(e, StopRunError) for e in _chain(error)):
            self.seen = True
            return False
        return not (self.seen and any(m in record.getMessage() for m in self._AFTER))


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        inner = getattr(error, "exception", None)  # dlt's job exceptions wrap the cause
        error = error.__cause__ or (inner if isinstance(inner, BaseException) else None)


logging.getLogger("dlt").addFilter(OwnStopsLogFilter())


@atexit.register
def _finish_every_run() -> None:
    """A pipeline of the user's own that used the destination: close its runs at exit."""
    for staging, target, run_id in list(_pushers):
        finish_run(staging, target, run_id)


def deliver(items: TDataItems, spec: RunSpec) -> None:
    """Deliver one load file (a path, as dlt hands it with batch_size=0) or batch of rows."""
    try:
        pusher = start_run(spec)
        for rows in _row_batches(items):
            pusher.push(
                [
                    PendingRequest(r["external_id"], r["body"], r["content_hash"], r.get("job"))
                    for r in rows
                ]
            )
        pusher.drain()
    except StopRunError as exc:
        # Terminal for dlt: no blind retries of this batch; the ledger keeps everything pending.
        raise DestinationTerminalException(str(exc)) from exc


def _row_batches(items: TDataItems) -> Iterator[list[dict[str, Any]]]:
    if isinstance(items, str):
        for batch in pq.ParquetFile(items).iter_batches(
            batch_size=READ_BATCH, columns=_columns(items)
        ):
            yield batch.to_pylist()
    else:
        yield items.to_pylist() if hasattr(items, "to_pylist") else list(items)


def _columns(path: str) -> list[str]:
    names = pq.ParquetFile(path).schema_arrow.names
    return [c for c in ("external_id", "body", "content_hash", "job") if c in names]


def _spec(target: str, rate_per_second: float, values: dict[str, Any]) -> RunSpec:
    """A run's spec from the destination's resolved keys; ConfigError naming a bad one."""
    section = f"[destination.engagements_{target}]"
    for key in ("rate", "max_concurrency", "timeout", "burst"):
        value = rate_per_second if key == "rate" else values[key]
        if not isinstance(value, int | float) or value <= 0:
            name = {"rate": "requests_per_10s" if target == "v1" else "requests_per_second"}
            raise ConfigError(
                f"{section} {name.get(key, key)} = {value!r} is not a positive number; fix it "
                "or remove it to use the default"
            )
    return RunSpec(
        target,
        values["base_url"],
        str(values["api_token"]).strip(),
        str(Path(values["staging"]).resolve()),
        values["destination_id"],
        values["run_id"] or _PROCESS_RUN,
        values["run_workflows"],
        rate_per_second,
        int(values["max_concurrency"]),
        float(values["timeout"]),
        values["ca_bundle"] or True,
        total=int(values["total"]),
        run_workflows_by_job=dict(values["run_workflows_by_job"] or {}),
        burst=int(values["burst"]),
        relays=dict(values["relays"] or {}),
    )


_PROCESS_RUN = uuid.uuid4().hex  # the run id of a pipeline of the user's own


def _destination(function: Any, target: str) -> Any:
    function.__name__ = f"engagements_{target}"
    return dlt.destination(
        function,
        name=f"engagements_{target}",
        batch_size=0,  # the load file itself: see the module docstring
        loader_file_format="parquet",
        loader_parallelism_strategy="sequential",
        naming_convention="direct",
        max_table_nesting=0,
        skip_dlt_columns_and_tables=True,
    )


# Two signatures on purpose: dlt resolves a destination's keys from its function's parameter
# names, and v1's rate key (requests_per_10s) is not v2's (requests_per_second).
def _v1(
    items: TDataItems,
    table: Any,
    base_url: str = DEFAULT_BASE_URLS["v1"],
    api_token: TSecretStrValue = dlt.secrets.value,
    staging: str = dlt.config.value,
    destination_id: str = "",
    requests_per_10s: float = DEFAULT_RATES["v1"] * 10,
    max_concurrency: int = DEFAULT_CONCURRENCY["v1"],
    timeout: float = 60.0,
    ca_bundle: str | None = None,
    burst: int = 1,
    run_id: str = "",
    run_workflows: bool = True,
    total: int = 0,
    run_workflows_by_job: dict[str, bool] | None = None,
    relays: dict[str, Any] | None = None,
) -> None:
    values = dict(locals())
    deliver(items, _spec("v1", requests_per_10s / 10, values))


def _v2(
    items: TDataItems,
    table: Any,
    base_url: str = DEFAULT_BASE_URLS["v2"],
    api_token: TSecretStrValue = dlt.secrets.value,
    staging: str = dlt.config.value,
    destination_id: str = "",
    requests_per_second: float = DEFAULT_RATES["v2"],
    max_concurrency: int = DEFAULT_CONCURRENCY["v2"],
    timeout: float = 60.0,
    ca_bundle: str | None = None,
    burst: int = 1,
    run_id: str = "",
    run_workflows: bool = True,
    total: int = 0,
    run_workflows_by_job: dict[str, bool] | None = None,
    relays: dict[str, Any] | None = None,
) -> None:
    values = dict(locals())
    deliver(items, _spec("v2", requests_per_second, values))


engagements_v1 = _destination(_v1, "v1")
engagements_v2 = _destination(_v2, "v2")

__all__ = [
    "RunSpec",
    "active_pushers",
    "deliver",
    "engagements_v1",
    "engagements_v2",
    "finish_run",
    "start_run",
]
