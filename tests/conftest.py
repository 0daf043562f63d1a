"""Shared fixtures. The server and client factories come from worqr.pytest_plugin
(``redis_url``, ``worqr_prefix``, ``make_worqr``, ``make_async_worqr``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test server, for looking behind worqr's back."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
