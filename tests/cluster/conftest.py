"""The Redis fixtures of tests/redis (the shared Redis, a key prefix per test)."""

from tests.redis.conftest import cluster, delete_prefix, prefix, redis_store_url, redis_url

__all__ = ["cluster", "delete_prefix", "prefix", "redis_store_url", "redis_url"]
