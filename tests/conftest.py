"""Real Redis for the tests: the embedded server, and a three-node Redis Cluster
started from the same binary. Both are started once per session and flushed
before each test."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from widget_server.app import create_app
from widget_server.settings import Settings
from widget_server.storage.embedded_redis import EmbeddedRedis
from widget_server.storage.local_cluster import RedisCluster

BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.acquire()
    yield server
    server.release()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """A real S3 API on loopback (moto's server: buckets, multipart uploads, signed
    requests over HTTP), with one bucket, `models`. Yields the environment a client
    reaches it with, as an operator's would name a MinIO or R2 endpoint."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "tarry-test",
        "AWS_SECRET_ACCESS_KEY": "tarry-test-secret",
        "AWS_REGION": "us-east-1",
    }
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )
    client.create_bucket(Bucket="models")
    try:
        yield env
    finally:
        server.stop()


@pytest.fixture
def standalone_url(embedded_redis: EmbeddedRedis) -> str:
    with redis.Redis.from_url(embedded_redis.url) as client:
        client.flushall()
    return embedded_redis.url


@pytest.fixture(params=["standalone", "cluster"])
def redis_url(request: pytest.FixtureRequest) -> str:
    """Tests that take this run against both a single Redis and a Redis Cluster."""
    if request.param == "standalone":
        return str(request.getfixturevalue("standalone_url"))
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    cluster.flush()
    return cluster.url


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env({"TARRY_REDIS_URL": redis_url, "TARRY_DATA_DIR": str(tmp_path)})


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tarry` commands run in-process use the test's Redis and data directory."""
    assert settings.redis_url is not None
    monkeypatch.setenv("TARRY_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("TARRY_DATA_DIR", str(settings.data_dir))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, headers={"user-agent": BROWSER_UA}) as test_client:
        yield test_client
