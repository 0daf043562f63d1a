"""Shared fixtures. The server and client factories come from worqr.pytest_plugin
(``redis_url``, ``worqr_prefix``, ``make_worqr``, ``make_async_worqr``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

# Rewrite the asserts of the helper modules as in the tests themselves, so that a helper's
# failing assert shows its values (pytest rewrites only test modules and conftest files).
pytest.register_assert_rewrite(
    "tests.acl_helpers",
    "tests.async_runtime_helpers",
    "tests.dequeue_helpers",
    "tests.heartbeat_helpers",
    "tests.helpers",
    "tests.protocol_helpers",
    "tests.redis_helpers",
    "tests.runtime_helpers",
)


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test server, for looking behind worqr's back."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
