"""pytest fixtures for code that uses worqr: ``pytest_plugins = ["worqr.pytest_plugin"]``.

- ``redis_url`` (session): ``WORQR_REDIS_URL`` if set, else a private server started for the session.
- ``worqr_prefix``: a fresh key prefix per test, so tests never see each other's keys.
- ``make_worqr`` / ``make_async_worqr``: factories of `Worqr` / `AsyncWorqr` clients on that
  server and prefix, all closed after the test (the async one needs pytest-asyncio).
- ``local_cluster`` (session): a `LocalCluster` (3 primaries, 1 replica each) shared by the
  session; for tests that neither kill nor move anything in it.
- ``make_local_cluster`` / ``make_local_sentinel``: factories that start a `LocalCluster` /
  `LocalSentinel` (keyword arguments as for those), all closed after the test; for tests that
  fail over, restart or migrate.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from worqr._async_client import AsyncWorqr
from worqr._client import Worqr
from worqr.testing import LocalCluster, LocalSentinel, server_url


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


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    """A started `LocalCluster` shared by the session: do not kill, restart or migrate in it."""
    with LocalCluster() as cluster:
        yield cluster


@pytest.fixture
def make_local_cluster() -> Iterator[Callable[..., LocalCluster]]:
    """Start `LocalCluster` instances (keyword arguments as for `LocalCluster`); all closed after the test."""
    made: list[LocalCluster] = []

    def make(**kwargs: Any) -> LocalCluster:
        made.append(LocalCluster(**kwargs))
        made[-1].start()
        return made[-1]

    yield make
    for cluster in made:
        cluster.close()


@pytest.fixture
def make_local_sentinel() -> Iterator[Callable[..., LocalSentinel]]:
    """Start `LocalSentinel` instances (keyword arguments as for `LocalSentinel`); all closed after the test."""
    made: list[LocalSentinel] = []

    def make(**kwargs: Any) -> LocalSentinel:
        made.append(LocalSentinel(**kwargs))
        made[-1].start()
        return made[-1]

    yield make
    for sentinel in made:
        sentinel.close()
