"""The Redis fixtures of tests/redis (the shared Redis, a private Redis Cluster, a key prefix
per test), and ``node_store``: the nodes' store URL on each of them."""

from collections.abc import Iterator

import pytest

from tests.redis.conftest import cluster, delete_prefix, prefix, redis_store_url, redis_url

__all__ = ["cluster", "delete_prefix", "node_store", "prefix", "redis_store_url", "redis_url"]


@pytest.fixture(params=["redis", "redis-cluster"])
def node_store(request: pytest.FixtureRequest, redis_url: str, prefix: str) -> Iterator[str]:
    """The shared Redis, then a three-node Redis Cluster, under this test's own prefix."""
    url = redis_url if request.param == "redis" else request.getfixturevalue("cluster").url
    yield f"{url}?prefix={prefix}"
    delete_prefix(url, prefix)
