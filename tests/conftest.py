"""Shared fixtures. The server and client factories come from worqr.pytest_plugin
(``redis_url``, ``worqr_prefix``, ``make_worqr``, ``make_async_worqr``)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import redis

# Rewrite the asserts of the helper modules as in the tests themselves, so that a helper's
# failing assert shows its values (pytest rewrites only test modules and conftest files).
pytest.register_assert_rewrite(
    "tests.acl_helpers",
    "tests.async_runtime_helpers",
    "tests.cli_helpers",
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


@pytest.fixture
def worqr_processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Where `tests.cli_helpers.spawn_worqr` puts its processes: killed, if still running,
    and their pipes closed at the end of the test."""
    from tests.runtime_helpers import LONG  # after the assert rewrite is registered

    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(LONG)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
