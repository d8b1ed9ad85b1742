"""`engagements_v2` / `engagements_v1` in a dlt pipeline of the user's own, configured only by
the documented keys (DESIGN: destinations): the same deliveries, ledger and identity as
`engagement-sync push`, and every key reaches the sender."""

from __future__ import annotations

from pathlib import Path

import dlt
import duckdb
import pyarrow as pa
import pytest

from destinations.engagements import sink
from destinations.engagements.sink import engagements_v1, engagements_v2
from destinations.sandbox import SandboxServer
from pipelines.jobs import Job
from pipelines.stage import stage

KEYS = {"v1": "REQUESTS_PER_10S", "v2": "REQUESTS_PER_SECOND"}


def requests(staging: Path, target: str) -> pa.Table:
    with duckdb.connect(str(staging)) as con:
        return con.execute(
            f"SELECT external_id, body, content_hash, job FROM engagements.{target}_requests"
        ).fetch_arrow_table()


@pytest.mark.parametrize("target", ["v1", "v2"])
def test_the_destination_works_in_a_pipeline_of_your_own(
    staging: Path,
    sample_job: Job,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    target: str,
) -> None:
    stage(staging, [sample_job])
    prefix = f"DESTINATION__ENGAGEMENTS_{target.upper()}__"
    base = sandbox.base_url if target == "v1" else sandbox.v2_base_url
    for key, value in {
        "BASE_URL": base,
        "API_TOKEN": f"  {sandbox.config.token}\n",  # as a secrets file may hold it
        "STAGING": str(staging),
        KEYS[target]: "5000",
        "MAX_CONCURRENCY": "3",
        "TIMEOUT": "7",
        "BURST": "2",
    }.items():
        monkeypatch.setenv(prefix + key, value)
    rows = requests(staging, target)
    pipeline = dlt.pipeline(f"mine_{target}", pipelines_dir=str(tmp_path / "dlt"))
    destination = engagements_v1 if target == "v1" else engagements_v2
    pipeline.run(
        rows, table_name=f"{target}_requests", destination=destination, loader_file_format="parquet"
    )
    [pusher] = sink.active_pushers()
    pacer = pusher.gate.pacer
    assert pusher.options.max_concurrency == 3
    assert pacer.tolerance == pytest.approx(pacer.interval)  # burst 2: one send may go early
    assert pusher.client.timeout == 7.0
    assert pusher.counts.created == rows.num_rows > 0
    destination_name = pusher.ledger.destination
    sink._finish_every_run()  # what interpreter exit does
    held = sandbox.store.count_v1() if target == "v1" else sandbox.store.count_v2()
    assert held == rows.num_rows
    assert destination_name.startswith(
        "hubspot-portal:" if target == "v1" else "askelephant-token:"
    )
    with duckdb.connect(str(staging)) as con:
        states = con.execute(
            "SELECT state, count(*) FROM engagements.delivery_states WHERE destination = ? "
            "GROUP BY ALL",
            [destination_name],
        ).fetchall()
    assert states == [("created", rows.num_rows)]
    pipeline.run(  # again: the ledger knows, nothing is sent twice
        rows, table_name=f"{target}_requests", destination=destination, loader_file_format="parquet"
    )
    sink._finish_every_run()
    assert (sandbox.store.count_v1() if target == "v1" else sandbox.store.count_v2()) == held


def test_a_bad_key_is_one_line_naming_it(
    staging: Path, sample_job: Job, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stage(staging, [sample_job])
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__API_TOKEN", "t")
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__STAGING", str(staging))
    monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__MAX_CONCURRENCY", "0")
    pipeline = dlt.pipeline("mine_bad", pipelines_dir=str(tmp_path / "dlt"))
    with pytest.raises(Exception, match=r"max_concurrency = 0 is not a positive number"):
        pipeline.run(
            requests(staging, "v2"),
            table_name="v2_requests",
            destination=engagements_v2,
            loader_file_format="parquet",
        )
    sink._finish_every_run()


def test_a_push_state_an_older_version_left_does_not_stop_the_next_push(
    staging: Path, sample_job: Job, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """dlt restores a pipeline's destination from its state before anything else: a state that
    names a destination class an older engagement-sync had must not break an upgrade."""
    import json
    import shutil

    from pipelines import workspace
    from pipelines.push import push
    from tests.integration.conftest import destination

    earlier = tmp_path / "earlier" / "engagement-sync.duckdb"
    earlier.parent.mkdir()
    for path in (earlier, staging):
        stage(path, [sample_job])
    push(earlier, destination(sandbox, "v2"))
    old = Path(workspace.pipelines_dir(earlier)) / "engagements_push_v2"
    state = json.loads((old / "state.json").read_text())
    state["destination_type"] = "destinations.engagements.sink.SinkSinkDestination"
    left = Path(workspace.pipelines_dir(staging)) / "engagements_push_v2"
    shutil.copytree(old, left)
    (left / "state.json").write_text(json.dumps(state))
    report = push(staging, destination(sandbox, "v2", token=None))
    assert report.pending > 0 and report.existing == report.pending  # sent, answered 200
