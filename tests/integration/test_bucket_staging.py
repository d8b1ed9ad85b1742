"""Bucket stagings on a real S3 API (moto in server mode on 127.0.0.1): the staging and its dlt
state travel through the bucket, a lease keeps a second machine out (exit 3 naming the holder)
until it expires (taken over with a warning), missing credentials are one line, a checkpoint
taken mid-push is consistent, and a SIGKILL mid-push followed by runs from other working
directories (other machines) ends with every record delivered exactly once.
"""

from __future__ import annotations

import io
import json
import logging
import random
import shutil
import socket
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from destinations.sandbox import SandboxServer
from pipelines.checkpoints import Checkpointer
from pipelines.cli import app
from pipelines.destinations_config import DestinationSettings
from pipelines.push import push
from pipelines.sample_data import write_twilio_sample
from pipelines.stage import stage
from tests.integration.crash_harness import Where, push_env, run_until_done, verdict

KEY_ID, SECRET_KEY = "staging-test-key", "staging-test-secret-never-stored"
runner = CliRunner()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    name = "staging-" + request.node.name.lower().replace("_", "-")[:40].strip("-[]")
    s3(s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def staging_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Bucket credentials the dlt way (env); AWS's own chain switched off so none leaks in."""
    env = {
        "ENGAGEMENT_SYNC__STAGING__CREDENTIALS__AWS_ACCESS_KEY_ID": KEY_ID,
        "ENGAGEMENT_SYNC__STAGING__CREDENTIALS__AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "ENGAGEMENT_SYNC__STAGING__CREDENTIALS__ENDPOINT_URL": s3_endpoint,
        "ENGAGEMENT_SYNC__STAGING__CREDENTIALS__REGION_NAME": "us-east-1",
    }
    _no_aws_chain(monkeypatch)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _no_aws_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def sandbox_env(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for target in ("v1", "v2"):
        for key, value in push_env(sandbox, target).items():
            if key.startswith("DESTINATION__"):
                monkeypatch.setenv(key, value)


def stage_args(sample: Path, url: str) -> list[str]:
    return [
        "stage",
        "--staging",
        url,
        "--preset",
        "twilio",
        "--path",
        str(sample / "exports"),
        "--contact-map",
        str(sample / "contacts.csv"),
    ]


def objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    client = s3(endpoint)
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def download(endpoint: str, bucket: str, key: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / key.rsplit("/", 1)[-1]
    s3(endpoint).download_file(bucket, key, str(path))
    return path


def put_lease(endpoint: str, bucket: str, key: str, host: str, expires: datetime) -> None:
    body = {"host": host, "pid": 4242, "since": "2026-11-30T08:00:00+00:00"}
    body["expires"] = expires.isoformat(timespec="seconds")
    s3(endpoint).put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode())


def test_stage_and_push_through_a_bucket_staging(
    tmp_path: Path,
    sample: Path,
    sandbox: SandboxServer,
    bucket: str,
    s3_endpoint: str,
    staging_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox_env(sandbox, monkeypatch)
    url = f"s3://{bucket}/team/sync.duckdb"
    (tmp_path / "laptop").mkdir()
    monkeypatch.chdir(tmp_path / "laptop")
    staged = runner.invoke(app, [*stage_args(sample, url), "--json"])
    assert staged.exit_code == 0, staged.output
    stored = objects(s3_endpoint, bucket)
    assert "team/sync.duckdb" in stored
    with tarfile.open(fileobj=io.BytesIO(stored["team/.engagement-sync/sync.duckdb.tar"])) as tar:
        assert "./engagements_stage/state.json" in tar.getnames()
    assert json.loads(stored["team/sync.duckdb.lease"])["released"] is True

    (tmp_path / "ci").mkdir()  # another machine: nothing local, everything from the bucket
    monkeypatch.chdir(tmp_path / "ci")
    pushed = runner.invoke(app, ["push", "--staging", url, "--json"])
    assert pushed.exit_code == 0, pushed.output
    again = runner.invoke(app, [*stage_args(sample, url), "--json"])  # the state came along
    import traceback

    assert again.exit_code == 0, "".join(traceback.format_exception(*again.exc_info))
    assert [r["files"] for r in json.loads(again.stdout)["stage"]] == [0]
    monkeypatch.setenv("ENGAGEMENT_SYNC__STAGING", url)  # the `staging` key, no --staging
    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0, status.output
    states = json.loads(status.stdout)["targets"]
    assert states["v2"]["created"] == sandbox.store.count_v2() > 0
    assert states["v1"]["created"] == sandbox.store.count_v1() > 0
    assert not list((tmp_path / "ci").glob(".engagement-sync/remote/*/read-*"))  # cleaned up
    for key, body in objects(s3_endpoint, bucket).items():
        assert SECRET_KEY.encode() not in body and KEY_ID.encode() not in body, key
    assert SECRET_KEY not in pushed.output + staged.output + status.output


def test_a_second_machine_exits_3_naming_the_holder(
    sample: Path, bucket: str, s3_endpoint: str, staging_env: dict[str, str]
) -> None:
    url = f"s3://{bucket}/sync.duckdb"
    assert runner.invoke(app, stage_args(sample, url)).exit_code == 0
    from pipelines.bucket_staging import Remote

    holder = Remote(url).lease(ttl=600)
    holder.acquire()  # this process, as the first machine, holds it
    try:
        second = runner.invoke(app, stage_args(sample, url))
        assert second.exit_code == 3
        line = second.stderr.strip()
        assert "\n" not in line and "in use by" in line
        assert socket.gethostname() in line and "PID " in line and " since 20" in line
        read = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM calls", "--staging", url])
        assert read.exit_code == 0, read.output  # read-only commands take no lease
    finally:
        holder.release()
    assert runner.invoke(app, stage_args(sample, url)).exit_code == 0


def test_an_expired_lease_is_taken_over_with_a_warning(
    sample: Path, bucket: str, s3_endpoint: str, staging_env: dict[str, str]
) -> None:
    url = f"s3://{bucket}/sync.duckdb"
    put_lease(s3_endpoint, bucket, "sync.duckdb.lease", "gone-runner-7", datetime.now(UTC))
    result = runner.invoke(app, stage_args(sample, url))
    assert result.exit_code == 0, result.output
    assert "warning: took over the expired lease" in result.stderr
    assert "gone-runner-7 (PID 4242) since 2026-11-30T08:00:00+00:00" in result.stderr
    state = objects(s3_endpoint, bucket)[".engagement-sync/sync.duckdb.tar"]
    with tarfile.open(fileobj=io.BytesIO(state)) as tar:
        note = tar.extractfile("./lease-takeovers.jsonl")
        assert note and json.loads(note.read())["host"] == "gone-runner-7"  # kept with the state

    alive = datetime.now(UTC) + timedelta(hours=1)
    put_lease(s3_endpoint, bucket, "sync.duckdb.lease", "busy-runner", alive)
    assert runner.invoke(app, stage_args(sample, url)).exit_code == 3  # alive: not taken


@pytest.mark.parametrize("missing", ["all", "secret"])
def test_missing_bucket_credentials_is_one_line(
    sample: Path, bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    _no_aws_chain(monkeypatch)
    monkeypatch.setenv("ENGAGEMENT_SYNC__STAGING__CREDENTIALS__ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("ENGAGEMENT_SYNC__STAGING__CREDENTIALS__REGION_NAME", "us-east-1")
    if missing == "secret":
        monkeypatch.setenv("ENGAGEMENT_SYNC__STAGING__CREDENTIALS__AWS_ACCESS_KEY_ID", KEY_ID)
    result = runner.invoke(app, stage_args(sample, f"s3://{bucket}/sync.duckdb"))
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert "[engagement_sync.staging.credentials]" in result.stderr


def test_a_checkpoint_mid_push_is_a_consistent_copy_with_every_intent_so_far(
    tmp_path: Path, sample: Path, sandbox: SandboxServer, staging: Path
) -> None:
    from pipelines.jobs import make_job

    job = make_job("calls", {"preset": "twilio", "path": str(sample / "exports")})
    stage(staging, [job])
    copies = tmp_path / "checkpoints"
    copies.mkdir()

    def keep(copy: Path) -> None:
        shutil.copyfile(copy, copies / f"{len(list(copies.iterdir()))}.duckdb")

    checkpointer = Checkpointer(staging, keep, seconds=3600, records=10**9)
    creates = {"n": 0}

    def at_create(api: str) -> None:  # inside the sandbox, while the sender waits for it
        creates["n"] += 1
        if creates["n"] in (10, 30):
            assert checkpointer.checkpoint()

    stop = sandbox.store.watch_creates(at_create)
    base = sandbox.v2_base_url
    try:
        settings = DestinationSettings("v2", base, sandbox.config.token, base, 500.0, 4)
        push(staging, settings, show_progress=False)
    finally:
        stop()
    assert checkpointer.done == 2
    for n, copy in ((10, copies / "0.duckdb"), (30, copies / "1.duckdb")):
        with duckdb.connect(str(copy), read_only=True) as con:
            [(intents,)] = con.execute(
                "SELECT count(*) FROM engagements.deliveries WHERE phase = 'intent'"
            ).fetchall()
        assert intents >= n  # the intent of each create so far is committed before its send


@pytest.mark.slow
@pytest.mark.parametrize("target", ["v2", "v1"])
def test_sigkill_mid_push_then_another_machine_finishes_exactly_once(
    tmp_path: Path,
    sandbox: SandboxServer,
    bucket: str,
    s3_endpoint: str,
    staging_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    target: str,
) -> None:
    write_twilio_sample(tmp_path / "sample", n_calls=600, complete=True)
    url = f"s3://{bucket}/crash/sync.duckdb"
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, stage_args(tmp_path / "sample", url)).exit_code == 0
    first = download(s3_endpoint, bucket, "crash/sync.duckdb", tmp_path / "first")
    records = _count(first, target)
    env = {**push_env(sandbox, target), **staging_env}
    env["ENGAGEMENT_SYNC__STAGING_CHECKPOINT_RECORDS"] = "25"

    def lease_expires(attempt: int) -> None:  # a dead machine's lease, 15 minutes later
        body = objects(s3_endpoint, bucket)["crash/sync.duckdb.lease"]
        if not json.loads(body).get("released"):
            put_lease(s3_endpoint, bucket, "crash/sync.duckdb.lease", "dead", datetime.now(UTC))

    where = Where(url, lambda n: tmp_path / f"machine-{n}", records, lease_expires)
    rng = random.Random(11)
    kills = run_until_done(tmp_path / "unused.duckdb", target, env, rng, sandbox, 2, where)
    final = download(s3_endpoint, bucket, "crash/sync.duckdb", tmp_path / "last")
    result = verdict(final, sandbox, target)
    with duckdb.connect(str(final), read_only=True) as con:
        states = dict(
            con.execute(
                "SELECT state, count(*) FROM engagements.delivery_states WHERE target = ? "
                "GROUP BY 1",
                [target],
            ).fetchall()
        )
    runs = len(list(tmp_path.glob("machine-*")))
    print(f"bucket crash trial {target}: kills={kills} runs={runs} {result} ledger={states}")
    assert kills == 2
    assert (result.duplicates, result.missing) == (0, 0), result
    assert result.held == result.records == records
    assert set(states) <= {"created", "existing"} and sum(states.values()) == records


def _count(path: Path, target: str) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        [(n,)] = con.execute(f"SELECT count(*) FROM engagements.{target}_requests").fetchall()
    return int(n)
