"""pytest fixtures for code that uses worqr: ``pytest_plugins = ["worqr.pytest_plugin"]``.

- ``redis_url`` (session): ``WORQR_REDIS_URL`` if set, else a private server started for the session.
- ``worqr_prefix``: a fresh key prefix per test, so tests never see each other's keys.
- ``make_worqr`` / ``make_async_worqr``: factories of `Worqr` / `AsyncWorqr` clients on that
  server and prefix, all closed after the test (the async one needs pytest-asyncio).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from worqr._async_client import AsyncWorqr
from worqr._client import Worqr
from worqr.testing import server_url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of the Redis server the tests use."""
    with server_url() as url:
        yield url


@pytest.fixture
def worqr_prefix() -> str:
    """A key prefix no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


def _defaults(kwargs: dict[str, Any], redis_url: str, prefix: str) -> dict[str, Any]:
    return {"redis": redis_url, "prefix": prefix, **kwargs}


@pytest.fixture
def make_worqr(redis_url: str, worqr_prefix: str) -> Iterator[Callable[..., Worqr]]:
    """Build `Worqr` clients (keyword arguments as for `Worqr`); all are closed after the test."""
    made: list[Worqr] = []

    def make(**kwargs: Any) -> Worqr:
        made.append(Worqr(**_defaults(kwargs, redis_url, worqr_prefix)))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
async def make_async_worqr(redis_url: str, worqr_prefix: str) -> AsyncIterator[Callable[..., AsyncWorqr]]:
    """Build `AsyncWorqr` clients (keyword arguments as for `AsyncWorqr`); all closed after the test."""
    made: list[AsyncWorqr] = []

    def make(**kwargs: Any) -> AsyncWorqr:
        made.append(AsyncWorqr(**_defaults(kwargs, redis_url, worqr_prefix)))
        return made[-1]

    yield make
    for client in made:
        await client.close()
