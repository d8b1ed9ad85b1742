"""The recording relay against a real S3-compatible server (moto in server mode on 127.0.0.1) and
the sandbox serving recordings behind Basic / Bearer auth and expiring links.

v2 receives presigned links it can fetch (the test fetches them and compares the bytes), each
object is uploaded once across retries, later runs and SIGKILLs (the bucket is versioned: a
second upload would be a second version), an expired link is signed again with a ledger note,
and what the relay cannot re-host is rejected for v2 with its reason code.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import duckdb
import httpx
import pytest
from moto.server import ThreadedMotoServer

from destinations.sandbox import SandboxConfig, SandboxServer
from destinations.sandbox.recordings import content
from pipelines.destinations_config import DestinationSettings
from pipelines.jobs import Job, make_job
from pipelines.push import count_pending, push
from pipelines.relay_config import relays_by_job
from pipelines.sample_data import write_twilio_sample
from pipelines.stage import stage
from sources.engagements.relay import object_name
from sources.errors import StopRunError
from tests.integration.crash_harness import push_env, run_until_done, verdict
from tests.integration.test_delivery_faults import _fast_retries

KEY_ID, SECRET_KEY = "relay-test-key", "relay-test-secret-do-not-store"
FAST = {"v1_requests_per_10s": 100_000, "v2_requests_per_second": 10_000}
BASIC = base64.b64encode(
    f"{SandboxConfig.recording_user}:{SandboxConfig.recording_password}".encode()
).decode()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per S3 request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """A fresh versioned bucket: every upload of a key shows as a version."""
    name = "relay-" + request.node.name.lower().replace("_", "-")[:40].strip("-[]")
    client = s3(s3_endpoint)
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def relay_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Bucket and source credentials the dlt way (env), and the loopback testing switch."""
    env = {
        "ENGAGEMENT_SYNC__RELAY__CREDENTIALS__AWS_ACCESS_KEY_ID": KEY_ID,
        "ENGAGEMENT_SYNC__RELAY__CREDENTIALS__AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "ENGAGEMENT_SYNC__RELAY__CREDENTIALS__ENDPOINT_URL": s3_endpoint,
        "ENGAGEMENT_SYNC__RELAY__CREDENTIALS__REGION_NAME": "us-east-1",
        "ENGAGEMENT_SYNC__ALLOW_LOOPBACK_MEDIA": "true",
        "SOURCES__TWILIO__ACCOUNT_SID": SandboxConfig.recording_user,
        "SOURCES__TWILIO__AUTH_TOKEN": SandboxConfig.recording_password,
        "SOURCES__RINGCENTRAL__ACCESS_TOKEN": SandboxConfig.recording_token,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    from destinations.engagements import sink

    monkeypatch.setattr(sink.RunSpec, "__init__", _fast_retries(sink.RunSpec.__init__))


def s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )


def uploads(endpoint: str, bucket: str) -> dict[str, int]:
    """Versions per object name: 1 = uploaded once."""
    listed = s3(endpoint).list_object_versions(Bucket=bucket).get("Versions", [])
    counts: dict[str, int] = {}
    for version in listed:
        name = version["Key"].rsplit("/", 1)[-1]
        counts[name] = counts.get(name, 0) + 1
    return counts


def twilio_job(folder: Path, bucket: str, **extra: Any) -> Job:
    return make_job(
        "calls",
        {
            "preset": "twilio",
            "path": str(folder / "exports"),
            "targets": ["v2"],
            "relay": f"s3://{bucket}/recordings",
            "relay_hosts": ["127.0.0.1"],
            **extra,
        },
    )


def v2(sandbox: SandboxServer, destination_id: str | None = None) -> DestinationSettings:
    base = sandbox.v2_base_url
    return DestinationSettings("v2", base, sandbox.config.token, destination_id or base, 500.0)


def push_until_done(staging: Path, settings: DestinationSettings, job: Job, runs: int = 6) -> None:
    for _ in range(runs):
        push(staging, settings, show_progress=False, relays=relays_by_job([job]))
        if count_pending(staging, "v2", settings.destination_id) == 0:
            return
    raise AssertionError("v2 requests still pending")


def rows(staging: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(staging), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_basic_auth_recordings_are_relayed_once_and_fetchable(
    tmp_path: Path, bucket: str, relay_env: dict[str, str], s3_endpoint: str
) -> None:
    config = SandboxConfig(
        allow_loopback_media=True, seed=3, error_rate=0.2, lost_response_rate=0.1, **FAST
    )
    with SandboxServer(config) as sandbox:
        media = f"{sandbox.base_url}/_sandbox/recordings/basic"
        write_twilio_sample(tmp_path / "sample", n_calls=24, complete=True, media_base=media)
        job = twilio_job(tmp_path / "sample", bucket)
        staging = tmp_path / "relay.duckdb"
        stage(staging, [job])
        staged = dict(rows(staging, "SELECT external_id, body FROM engagements.v2_requests"))
        names = {
            ext: json.loads(body)["media_url"].rsplit("/", 1)[-1] for ext, body in staged.items()
        }
        for name in list(names.values())[:4]:
            sandbox.recordings.plan(name, fail_first=2)  # the source fails twice, then serves

        push_until_done(staging, v2(sandbox), job)

        held = {e["external_id"]: e["media_url"] for e in sandbox.store.v2_engagements()}
        assert sorted(held) == sorted(staged)  # one engagement per record (error faults on)
        with httpx.Client() as client:
            for ext, link in held.items():
                assert link.startswith(f"{s3_endpoint}/{bucket}/recordings/{object_name(ext)}?")
                fetched = client.get(link)
                assert fetched.status_code == 200
                assert fetched.headers["content-type"] == "audio/mpeg"
                assert fetched.content == content(names[ext])
        assert uploads(s3_endpoint, bucket) == {object_name(ext): 1 for ext in staged}
        assert all(sandbox.recordings.served[name] == 1 for name in names.values())

        push_until_done(staging, v2(sandbox), job)  # nothing pending: nothing downloaded again
        assert uploads(s3_endpoint, bucket) == {object_name(ext): 1 for ext in staged}

    # The bytes sent are the bytes recorded; no credential in the staging (DESIGN invariant 5).
    sent = dict(
        rows(
            staging,
            "SELECT external_id, json_extract_string(request_body, '$.media_url') "
            "FROM engagements.deliveries WHERE phase = 'intent' ORDER BY seq",
        )
    )
    assert sent == held
    stored = [staging, *(tmp_path / ".engagement-sync").rglob("*")]  # + dlt state and traces
    for path in (p for p in stored if p.is_file()):
        data = path.read_bytes()
        for secret in (SECRET_KEY, SandboxConfig.recording_password, BASIC):
            assert secret.encode() not in data, path


def rc_record(n: int, url: str) -> dict[str, Any]:
    return {
        "id": f"rc-{n}",
        "telephonySessionId": f"s-{n:04d}",
        "startTime": f"2026-11-0{1 + n % 9}T10:00:00.000Z",
        "duration": 60,
        "direction": "Inbound",
        "result": "Accepted",
        "from": {"phoneNumber": "+14155550100"},
        "to": {"phoneNumber": "+14155550101"},
        "recording": {"id": str(n), "contentUri": url},
    }


def test_bearer_expiring_links_and_what_the_relay_refuses(
    tmp_path: Path, bucket: str, relay_env: dict[str, str], s3_endpoint: str
) -> None:
    with SandboxServer(SandboxConfig(allow_loopback_media=True, **FAST)) as sandbox:
        base, port = sandbox.base_url, sandbox.port
        bearer = f"{base}/_sandbox/recordings/bearer"
        recs = sandbox.recordings
        urls = {
            1: f"{bearer}/ok.mp3",
            2: recs.expiring_link(base, "fresh.mp3", expires=4_102_444_800),
            3: recs.expiring_link(base, "stale.mp3", expires=1_700_000_000),
            4: f"{bearer}/page.mp3",
            5: f"{bearer}/huge.mp3",
            6: f"http://127.0.0.2:{port}/_sandbox/recordings/bearer/elsewhere.mp3",
            7: f"{bearer}/moved.mp3",
            8: f"{bearer}/flaky.mp3",
            9: f"{bearer}/metadata.mp3",
        }
        recs.plan("page.mp3", content_type="text/html")
        recs.plan("huge.mp3", size=2 * 1024 * 1024 + 1)
        recs.plan(
            "moved.mp3", redirect_to=f"http://localhost:{port}/_sandbox/recordings/public/m.mp3"
        )
        recs.plan("flaky.mp3", fail_first=5)  # more than one run's 5 attempts
        recs.plan("metadata.mp3", redirect_to="https://169.254.169.254/latest/meta-data/")
        exports = tmp_path / "exports"
        exports.mkdir()
        records = [rc_record(n, url) for n, url in urls.items()]
        (exports / "calls.json").write_text(json.dumps({"records": records}))
        job = make_job(
            "rc",
            {
                "preset": "ringcentral",
                "path": str(exports),
                "targets": ["v2"],
                "relay": f"s3://{bucket}/rc",
                "relay_hosts": ["127.0.0.1", "localhost"],
                "relay_max_mb": 2,
            },
        )
        staging = tmp_path / "rc.duckdb"
        stage(staging, [job])
        assert len(rows(staging, "SELECT * FROM engagements.v2_requests")) == len(urls)
        settings = v2(sandbox)
        push(staging, settings, show_progress=False, relays=relays_by_job([job]))
        assert count_pending(staging, "v2", settings.destination_id) == 1  # flaky.mp3
        [(error,)] = rows(
            staging,
            "SELECT error FROM engagements.delivery_states WHERE external_id = ?",
            ["ringcentral:s-0008"],
        )
        assert "HTTP 503" in error
        push(staging, settings, show_progress=False, relays=relays_by_job([job]))  # recovers

        states = dict(
            rows(
                staging,
                "SELECT external_id, coalesce(error_code, state) FROM engagements.delivery_states",
            )
        )
        assert states == {
            "ringcentral:s-0001": "created",
            "ringcentral:s-0002": "created",
            "ringcentral:s-0003": "relay_source_refused",  # the link had expired: HTTP 403
            "ringcentral:s-0004": "relay_not_media",
            "ringcentral:s-0005": "relay_too_large",
            "ringcentral:s-0006": "relay_host_not_allowed",
            "ringcentral:s-0007": "created",
            "ringcentral:s-0008": "created",
            "ringcentral:s-0009": "media_url_private_host",  # a redirect is checked too
        }
        messages = [
            r[0]
            for r in rows(
                staging,
                "SELECT error FROM engagements.delivery_states WHERE state = 'api_rejected'",
            )
        ]
        assert all("relay" in m and ";" in m for m in messages)  # what happened; what to do
        assert "moved.mp3" in recs.saw_credentials  # the origin got the token …
        assert "m.mp3" not in recs.saw_credentials  # … the host it redirected to did not
        assert recs.served["m.mp3"] == 1
        with httpx.Client() as client:
            for engagement in sandbox.store.v2_engagements():
                assert client.get(engagement["media_url"]).status_code == 200
        assert sum(uploads(s3_endpoint, bucket).values()) == 4


def test_an_expired_relay_link_is_signed_again_and_the_ledger_says_why(
    tmp_path: Path,
    bucket: str,
    relay_env: dict[str, str],
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime, timedelta

    from destinations.engagements import relay

    slow = SandboxConfig(allow_loopback_media=True, media_timeout_rate=1.0, **FAST)
    with SandboxServer(slow) as first:
        media = f"{first.base_url}/_sandbox/recordings/basic"
        write_twilio_sample(tmp_path / "sample", n_calls=3, complete=True, media_base=media)
        job = twilio_job(tmp_path / "sample", bucket)
        staging = tmp_path / "resign.duckdb"
        stage(staging, [job])
        # The API times out fetching the media: nothing is created, the intents stay recorded.
        push(staging, v2(first, "relay-dest"), show_progress=False, relays=relays_by_job([job]))
    time.sleep(1.1)  # SigV4 signs to the second: a new signature needs another second
    later = datetime.now(UTC) + timedelta(hours=2)  # the hour-long links have expired by now
    monkeypatch.setattr(relay, "_now", lambda: later)
    with SandboxServer(SandboxConfig(allow_loopback_media=True, **FAST)) as second:
        push(staging, v2(second, "relay-dest"), show_progress=False, relays=relays_by_job([job]))
        held = {e["external_id"]: e["media_url"] for e in second.store.v2_engagements()}
        with httpx.Client() as client:
            assert all(client.get(link).status_code == 200 for link in held.values())
    assert all("X-Amz-Signature=" in link for link in held.values())  # SigV4
    intents = rows(
        staging,
        "SELECT external_id, request_body, note FROM engagements.deliveries "
        "WHERE phase = 'intent' ORDER BY seq",
    )
    assert len(intents) == 2 * len(held) == 4  # 3 calls, 1 recording deleted
    for ext in held:
        (_, old, _), (_, new, note) = [i for i in intents if i[0] == ext]
        old_body, new_body = json.loads(old), json.loads(new)
        assert old_body["media_url"] != new_body["media_url"] == held[ext]
        assert {**old_body, "media_url": None} == {**new_body, "media_url": None}
        assert "signed again" in note
    assert uploads(s3_endpoint, bucket) == {object_name(ext): 1 for ext in held}  # same objects


@pytest.mark.slow
def test_sigkill_mid_push_uploads_each_recording_once(
    tmp_path: Path, bucket: str, relay_env: dict[str, str], s3_endpoint: str
) -> None:
    config = SandboxConfig(allow_loopback_media=True, latency_ms=40, **FAST)
    with SandboxServer(config) as sandbox:
        media = f"{sandbox.base_url}/_sandbox/recordings/basic"
        write_twilio_sample(tmp_path / "sample", n_calls=240, complete=True, media_base=media)
        (tmp_path / ".dlt").mkdir()
        (tmp_path / ".dlt" / "config.toml").write_text(
            "[engagement_sync.jobs.calls]\n"
            'preset = "twilio"\n'
            f'path = "{tmp_path / "sample" / "exports"}"\n'
            'targets = ["v2"]\n'
            f'relay = "s3://{bucket}/recordings"\n'
            'relay_hosts = ["127.0.0.1"]\n'
        )
        job = twilio_job(tmp_path / "sample", bucket)
        staging = tmp_path / "crash.duckdb"
        stage(staging, [job])
        env = {**push_env(sandbox, "v2"), **relay_env}
        kills = run_until_done(staging, "v2", env, random.Random(7), sandbox, kills=2)
        result = verdict(staging, sandbox, "v2")
        assert (result.duplicates, result.missing) == (0, 0), result
        assert result.held == result.records >= 150
        staged = [r[0] for r in rows(staging, "SELECT external_id FROM engagements.v2_requests")]
        assert uploads(s3_endpoint, bucket) == {object_name(ext): 1 for ext in staged}
        assert kills == 2
        [(runs,)] = rows(staging, "SELECT count(DISTINCT run_id) FROM engagements.deliveries")
        assert runs >= 2  # a killed run had relayed and sent some before it died


def test_a_missing_bucket_stops_the_run_and_keeps_everything_pending(
    tmp_path: Path, relay_env: dict[str, str]
) -> None:
    with SandboxServer(SandboxConfig(allow_loopback_media=True, **FAST)) as sandbox:
        media = f"{sandbox.base_url}/_sandbox/recordings/basic"
        write_twilio_sample(tmp_path / "sample", n_calls=6, complete=True, media_base=media)
        job = twilio_job(tmp_path / "sample", "no-such-bucket")
        staging = tmp_path / "stop.duckdb"
        stage(staging, [job])
        settings = v2(sandbox)
        before = count_pending(staging, "v2", settings.destination_id)
        with pytest.raises(StopRunError, match="no-such-bucket") as stopped:
            push(staging, settings, show_progress=False, relays=relays_by_job([job]))
        message = str(stopped.value)
        assert "\n" not in message and "run again" in message
        assert SECRET_KEY not in message
        assert count_pending(staging, "v2", settings.destination_id) == before > 0
        assert sandbox.store.count_v2() == 0
