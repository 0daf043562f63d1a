"""pytest fixtures for code that uses worqr: ``pytest_plugins = ["worqr.pytest_plugin"]``.

- ``redis_url`` (session): ``WORQR_REDIS_URL`` if set, else a private server started for the session.
- ``worqr_prefix``: a fresh key prefix per test, so tests never see each other's keys.
- ``make_worqr``: a factory of `Worqr` clients on that server and prefix, closed after the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from worqr._client import Worqr
from worqr.testing import RedisServer


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of the Redis server the tests use."""
    external = os.environ.get("WORQR_REDIS_URL")
    if external:
        yield external
        return
    with RedisServer() as server:
        yield server.url


@pytest.fixture
def worqr_prefix() -> str:
    """A key prefix no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_worqr(redis_url: str, worqr_prefix: str) -> Iterator[Callable[..., Worqr]]:
    """Build `Worqr` clients (keyword arguments as for `Worqr`); all are closed after the test."""
    made: list[Worqr] = []

    def make(**kwargs: Any) -> Worqr:
        kwargs.setdefault("redis", redis_url)
        kwargs.setdefault("prefix", worqr_prefix)
        client = Worqr(**kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
