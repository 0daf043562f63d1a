"""Shared fixtures: a real server per session (see worqr.pytest_plugin), clients per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis

from worqr import AsyncWorqr


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test server, for looking behind worqr's back."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
async def make_async_worqr(redis_url: str, worqr_prefix: str) -> AsyncIterator[Callable[..., AsyncWorqr]]:
    """Build `AsyncWorqr` clients on the test server and prefix; all are closed after the test."""
    made: list[AsyncWorqr] = []

    def make(**kwargs: Any) -> AsyncWorqr:
        kwargs.setdefault("redis", redis_url)
        kwargs.setdefault("prefix", worqr_prefix)
        client = AsyncWorqr(**kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
