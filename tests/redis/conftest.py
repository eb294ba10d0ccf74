"""Redis for the tests: the machine's on 127.0.0.1:6379 when it answers (else a private one),
a private three-node cluster, and a key prefix per test whose keys are deleted after it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

from tests.redis.servers import Cluster, RedisServer, answers

TEST_DB = 9  # the shared Redis's database for these tests (a prefix per test inside it)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if answers(6379):
        yield f"redis://127.0.0.1:6379/{TEST_DB}"
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"), persistent=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    nodes = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


def delete_prefix(url: str, prefix: str) -> None:
    """Every key under ``prefix`` (one at a time: a cluster refuses cross-slot DELs)."""
    parts = urlsplit(url)
    client: redis.Redis | redis.RedisCluster
    if parts.scheme.endswith("+cluster"):
        client = redis.RedisCluster(host=parts.hostname or "", port=parts.port or 6379)
    else:
        client = redis.Redis.from_url(url)
    try:
        for key in list(client.scan_iter(match=f"{prefix}:*", count=1000)):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_store_url(redis_url: str, prefix: str) -> Iterator[str]:
    """The shared Redis under a prefix of this test's own, cleaned up after it."""
    yield f"{redis_url}?prefix={prefix}"
    delete_prefix(redis_url, prefix)
