"""The connection a runner keeps out of its pool between calls (one, for a plain pool worqr
opened itself): checked before each use as the pool checks the ones it hands out, never
used by a forked child, never shared by two callers at once, and never kept from a pool
that belongs to someone else."""

from __future__ import annotations

import asyncio
import os
import threading

import redis
import redis.asyncio

from worqr import AsyncWorqr, Worqr


def _kill_clients(raw: redis.Redis) -> None:
    """Close every other client's connection on the server side (its socket gets a FIN)."""
    raw.client_kill_filter(_type="normal", skipme=True)


def test_a_kept_connection_the_server_closed_is_replaced_before_a_state_change(
    redis_url: str, raw: redis.Redis, worqr_prefix: str
) -> None:
    with Worqr(redis=redis_url, prefix=worqr_prefix) as wq:
        wq.enqueue("jobs", "a")
        _kill_clients(raw)
        assert wq.enqueue("jobs", "b") == 1  # not RedisUnavailableError(maybe_applied=True)
        assert wq.get_tasks("jobs") == ["a", "b"]


async def test_async_a_kept_connection_the_server_closed_is_replaced_before_a_state_change(
    redis_url: str, raw: redis.Redis, worqr_prefix: str
) -> None:
    async with AsyncWorqr(redis=redis_url, prefix=worqr_prefix) as wq:
        await wq.enqueue("jobs", "a")
        _kill_clients(raw)
        assert await wq.enqueue("jobs", "b") == 1
        assert await wq.get_tasks("jobs") == ["a", "b"]


def test_a_forked_child_opens_its_own_connection(redis_url: str, raw: redis.Redis, worqr_prefix: str) -> None:
    with Worqr(redis=redis_url, prefix=worqr_prefix) as wq:
        wq.enqueue("jobs", "parent")  # the parent now keeps a connection
        before = raw.info("stats")["total_connections_received"]
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child, which only exits
            try:
                code = 0 if wq.enqueue("jobs", "child") == 1 else 1
            except BaseException:
                code = 2
            os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert raw.info("stats")["total_connections_received"] > before  # not the parent's socket
        assert wq.enqueue("jobs", "after") == 1  # the parent's connection is intact
        assert wq.get_tasks("jobs") == ["parent", "child", "after"]


def test_threads_sharing_a_client_never_share_a_connection(redis_url: str, worqr_prefix: str) -> None:
    failures: list[BaseException] = []

    def produce(thread: int) -> None:
        try:
            for i in range(200):
                assert wq.enqueue("jobs", f"{thread}-{i}") == 1
                assert wq.count_queue("jobs") >= 1
        except BaseException as exc:  # reported by the assert below
            failures.append(exc)

    with Worqr(redis=redis_url, prefix=worqr_prefix) as wq:
        threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert sorted(wq.get_tasks("jobs")) == sorted(f"{t}-{i}" for t in range(8) for i in range(200))


async def test_async_tasks_sharing_a_client_never_share_a_connection(redis_url: str, worqr_prefix: str) -> None:
    async with AsyncWorqr(redis=redis_url, prefix=worqr_prefix) as wq:

        async def produce(task: int) -> None:
            for i in range(200):
                assert await wq.enqueue("jobs", f"{task}-{i}") == 1
                assert await wq.count_queue("jobs") >= 1

        await asyncio.gather(*(produce(n) for n in range(8)))
        assert sorted(await wq.get_tasks("jobs")) == sorted(f"{t}-{i}" for t in range(8) for i in range(200))


def test_no_connection_is_kept_from_a_pool_the_caller_owns(redis_url: str, worqr_prefix: str) -> None:
    pool = redis.BlockingConnectionPool.from_url(redis_url, max_connections=1, timeout=0.5)
    client = redis.Redis(connection_pool=pool)
    try:
        with Worqr(redis=client, prefix=worqr_prefix) as wq:
            wq.enqueue("jobs", "a")
            assert client.ping()  # the pool's one connection came back: no "No connection available"
    finally:
        client.close()
        pool.disconnect()


async def test_async_no_connection_is_kept_from_a_pool_the_caller_owns(redis_url: str, worqr_prefix: str) -> None:
    pool = redis.asyncio.BlockingConnectionPool.from_url(redis_url, max_connections=1, timeout=0.5)
    client = redis.asyncio.Redis(connection_pool=pool)
    try:
        async with AsyncWorqr(redis=client, prefix=worqr_prefix) as wq:
            await wq.enqueue("jobs", "a")
            assert await client.ping()
    finally:
        await client.aclose()
        await pool.aclose()
