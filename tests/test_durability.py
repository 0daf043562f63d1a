"""Durable writes (``durability=``): acknowledged state changes wait until replicas confirm
them (WAIT, or WAITAOF), in the same round trip, and too few confirmations raise
`ReplicationTimeoutError`. Real servers: a primary with a replica (``--replicaof``).
The failover proof is in tests/sentinel/test_sentinel.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from tests.helpers import wait_until
from worqr import (
    AsyncWorqr,
    Durability,
    InvalidArgumentError,
    RedisCommandError,
    RedisPermissionError,
    RedisUnavailableError,
    ReplicationTimeoutError,
    Worqr,
)
from worqr._protocol.keys import QueueKeys
from worqr.testing import RedisServer, server_binaries

#: Short waits keep the timeout tests fast.
QUICK = Durability(timeout=0.2)


def _start_pair(binary: str | None = None, extra: tuple[str, ...] = ()) -> tuple[RedisServer, RedisServer]:
    primary = RedisServer(binary=binary, extra_args=["--repl-diskless-sync-delay", "0", *extra])
    primary.start()
    replica = RedisServer(binary=binary, extra_args=[*extra, "--replicaof", "127.0.0.1", str(primary.port)])
    try:
        replica.start()
        with redis.Redis(port=primary.port) as client:
            wait_until(lambda: client.info("replication").get("slave0", {}).get("state") == "online")
            client.set("warm-up", 1)  # right after a full sync, the replica's first ack can take a second
            assert client.wait(1, 5000) == 1
    except BaseException:
        replica.close()
        primary.close()
        raise
    return primary, replica


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[RedisServer, RedisServer]]:
    """A primary and its replica."""
    primary, replica = _start_pair()
    yield primary, replica
    replica.close()
    primary.close()


@pytest.fixture
def prefix() -> str:
    return f"dur-{uuid.uuid4().hex[:10]}"


def _raw(server: RedisServer) -> Any:
    """A plain client to one server (its commands are untyped)."""
    return redis.Redis(port=server.port, socket_timeout=5)


def _waits(server: RedisServer, command: str = "wait") -> int:
    """How many WAIT (or WAITAOF) commands the server has run."""
    with _raw(server) as client:
        return int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


# Validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"replicas": 0}, r"replicas must be an int >= 1 \(aof=False\), got 0"),
        ({"replicas": -1, "aof": True}, "replicas must be an int >= 0, got -1"),
        ({"replicas": True}, "replicas must be an int >= 1"),
        ({"replicas": 1.5}, "replicas must be an int >= 1"),
        ({"timeout": 0}, "timeout must be a number of seconds above 0 and at most 20, got 0"),
        ({"timeout": -1.0}, "timeout must be"),
        ({"timeout": float("inf")}, "timeout must be"),
        ({"timeout": 21}, "at most 20"),
        ({"timeout": "1"}, "timeout must be"),
        ({"aof": "yes"}, "aof must be True or False, got 'yes'"),
    ],
)
def test_a_bad_durability_is_refused_with_what_is_wrong(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidArgumentError, match=problem):
        Durability(**kwargs)


@pytest.mark.parametrize("value", ["fast", 2, True, {"replicas": 1}])
def test_a_durability_that_is_not_one_is_refused_by_both_clients(value: Any) -> None:
    expected = r"durability must be None, 'replicated' or a worqr.Durability\(replicas=..., timeout=..., aof=...\)"
    with pytest.raises(InvalidArgumentError, match=expected):
        Worqr(redis="redis://127.0.0.1:1/0", durability=value)
    with pytest.raises(InvalidArgumentError, match=expected):
        AsyncWorqr(redis="redis://127.0.0.1:1/0", durability=value)


def test_replicated_means_the_default_durability_and_aof_may_need_no_replica() -> None:
    assert Durability() == Durability(replicas=1, timeout=1.0, aof=False)
    assert Durability(replicas=0, aof=True).replicas == 0


def test_a_wait_longer_than_the_clients_socket_timeout_is_refused() -> None:
    client = redis.Redis(port=1, socket_timeout=1.0)
    with pytest.raises(
        InvalidArgumentError,
        match=r"timeout \(1 s\) must be shorter than the socket_timeout of the Redis client \(1 s\)",
    ):
        Worqr(redis=client, durability="replicated")
    Worqr(redis=client, durability=Durability(timeout=0.5)).close()


# With a replica ------------------------------------------------------------------------------


def test_durable_enqueue_and_finish_are_on_the_replica_when_they_return(
    pair: tuple[RedisServer, RedisServer], prefix: str
) -> None:
    primary, replica = pair
    keys = QueueKeys(prefix, "q")
    with Worqr(redis=primary.url, prefix=prefix, durability="replicated") as client, _raw(replica) as on_replica:
        assert client.enqueue("q", ["a", "b", "c"]) == 3  # the count, not WAIT's reply
        assert on_replica.lrange(keys.pending, 0, -1) == [b"a", b"b", b"c"]  # read at once: no polling
        client.start_worker()
        client.start_work("q")
        process = client.dequeue("q")
        assert process is not None
        client.finish_process(process.id)
        assert on_replica.hlen(keys.processes(client.worker_id)) == 0


def _waits_per_operation(client: Worqr, primary: RedisServer, queue: str) -> dict[str, int]:
    """Run each kind of operation on ``queue``; how many WAITs each sent."""
    counts: dict[str, int] = {}

    def count(name: str, operation: Callable[[], object]) -> None:
        before = _waits(primary)
        operation()
        counts[name] = _waits(primary) - before

    def take() -> str:
        process = client.dequeue(queue)
        assert process is not None
        return process.id

    count("enqueue", lambda: client.enqueue(queue, ["a", "b", "c", "d"]))
    count("schedule", lambda: client.enqueue(queue, "later", delay=60))
    count("reads", lambda: (client.count_queue(queue), client.count_delayed(queue), client.get_queues()))
    count("start_work", lambda: client.start_work(queue))
    ids: list[str] = []
    count("dequeue", lambda: ids.extend(take() for _ in range(4)))
    count("finish", lambda: client.finish_process(ids[0]))
    count("stop", lambda: client.stop_process(ids[1]))
    count("fail", lambda: client.fail_process(ids[2], "boom", max_attempts=1))
    count("requeue_dead", lambda: client.requeue_dead_letters(queue))
    count("cancel", lambda: client.cancel_tasks(queue, "c"))
    count("delete_queue", lambda: client.delete_queue(queue))
    count("stop_work", lambda: client.stop_work(queue))
    return counts


def test_exactly_the_acknowledged_state_changes_wait_for_replicas(
    pair: tuple[RedisServer, RedisServer], prefix: str
) -> None:
    """enqueue, schedule, finish, fail, stop, cancel, requeue and delete wait, once each, in
    the same round trip; dequeue, reads, heartbeats and registry calls do not."""
    primary, _ = pair
    with Worqr(redis=primary.url, prefix=prefix, durability="replicated") as client:
        client.start_worker()
        _waits_per_operation(client, primary, "first")  # loads the scripts (a NOSCRIPT resend waits again)
        counts = _waits_per_operation(client, primary, "second")
    durable = {"enqueue", "schedule", "finish", "stop", "fail", "requeue_dead", "cancel", "delete_queue"}
    assert counts == {name: 1 if name in durable else 0 for name in counts}
    with Worqr(redis=primary.url, prefix=prefix) as plain:
        plain.start_worker()
        assert _waits_per_operation(plain, primary, "third") == dict.fromkeys(counts, 0)


def test_a_paused_replica_makes_a_durable_write_raise_with_the_numbers(
    pair: tuple[RedisServer, RedisServer], prefix: str
) -> None:
    primary, replica = pair
    keys = QueueKeys(prefix, "q")
    with Worqr(redis=primary.url, prefix=prefix, durability=QUICK) as client, _raw(primary) as on_primary:
        client.enqueue("q", "first")
        client.start_worker()
        client.start_work("q")
        process = client.dequeue("q")
        assert process is not None
        replica.pause()
        try:
            started = time.monotonic()
            with pytest.raises(ReplicationTimeoutError) as caught:
                client.enqueue("q", "unconfirmed")
            waited = time.monotonic() - started
            with pytest.raises(ReplicationTimeoutError):
                client.finish_process(process.id)
        finally:
            replica.resume()
        assert on_primary.lrange(keys.pending, 0, -1) == [b"unconfirmed"]  # applied on the primary
        assert on_primary.hlen(keys.processes(client.worker_id)) == 0
    error = caught.value
    assert isinstance(error, RedisUnavailableError)
    assert (error.confirmed, error.required, error.maybe_applied) == (0, 1, True)
    assert str(error) == (
        f"Redis at redis://127.0.0.1:{primary.port}/0 applied the state change, but only 0 of 1 replica(s) "
        "confirmed it within 0.2 s: it is on the primary and may be lost if the primary fails now"
    )
    assert 0.15 < waited < 2.0


def test_without_a_replica_or_with_too_few_a_durable_write_raises(
    redis_url: str, pair: tuple[RedisServer, RedisServer], prefix: str
) -> None:
    with Worqr(redis=redis_url, prefix=prefix, durability=QUICK) as alone:
        with pytest.raises(ReplicationTimeoutError, match="only 0 of 1 replica") as caught:
            alone.enqueue("q", "a")
        assert alone.count_queue("q") == 1
    assert (caught.value.confirmed, caught.value.required) == (0, 1)
    primary, _ = pair
    client = Worqr(redis=primary.url, prefix=prefix, durability=Durability(replicas=2, timeout=0.2))
    with client, pytest.raises(ReplicationTimeoutError, match="only 1 of 2 replica") as caught:
        client.enqueue("q", "a")
    assert (caught.value.confirmed, caught.value.required) == (1, 2)


async def test_the_async_client_waits_for_replicas_too(pair: tuple[RedisServer, RedisServer], prefix: str) -> None:
    primary, replica = pair
    keys = QueueKeys(prefix, "q")
    with _raw(replica) as on_replica:
        async with AsyncWorqr(redis=primary.url, prefix=prefix, durability="replicated") as client:
            before = _waits(primary)
            assert await client.enqueue("q", ["a", "b"]) == 2
            assert on_replica.lrange(keys.pending, 0, -1) == [b"a", b"b"]
            assert _waits(primary) - before == 2  # the check before the first durable write, then the enqueue
        async with AsyncWorqr(redis=primary.url, prefix=prefix, durability=QUICK) as client:
            replica.pause()
            try:
                with pytest.raises(ReplicationTimeoutError) as caught:
                    await client.enqueue("q", "c")
            finally:
                replica.resume()
    assert (caught.value.confirmed, caught.value.required, caught.value.maybe_applied) == (0, 1, True)


def test_a_user_that_may_not_wait_is_refused_before_anything_is_written(redis_url: str, prefix: str) -> None:
    with redis.Redis.from_url(redis_url) as admin:
        admin.execute_command("ACL", "SETUSER", "no-wait", "reset", "on", ">pw", "~*", "&*", "+@all", "-wait")
        try:
            url = redis_url.replace("redis://", "redis://no-wait:pw@")
            with Worqr(redis=url, prefix=prefix, durability=QUICK) as client:
                with pytest.raises(RedisPermissionError, match="may not run WAIT"):
                    client.enqueue("q", "a")
                assert client.count_queue("q") == 0
        finally:
            admin.execute_command("ACL", "DELUSER", "no-wait")


# WAITAOF -----------------------------------------------------------------------------------------


def _has_waitaof(server: RedisServer) -> bool:
    with _raw(server) as client:
        try:
            client.execute_command("WAITAOF", 0, 0, 1)
        except redis.ResponseError as exc:
            if "unknown command" in str(exc):
                return False
            raise
        return True


@pytest.mark.parametrize("binary", server_binaries())
def test_aof_durability_uses_waitaof_where_the_server_has_it_else_says_so(binary: str, prefix: str) -> None:
    """Redis 7.0 has no WAITAOF: a clear error before anything is written. Redis 7.2+ and
    Valkey: the write is fsynced on the primary and the replica; without AOF, a clear error."""
    aof = ("--appendonly", "yes", "--appendfsync", "always")
    primary, replica = _start_pair(binary, aof)
    try:
        with Worqr(redis=primary.url, prefix=prefix, durability=Durability(aof=True, timeout=2.0)) as client:
            if not _has_waitaof(primary):
                with pytest.raises(
                    RedisCommandError,
                    match=r"needs WAITAOF, which needs Redis 7\.2\+ or Valkey 8\+ with appendonly yes",
                ) as caught:
                    client.enqueue("q", "a")
                assert "nothing was written" in str(caught.value)
                assert client.count_queue("q") == 0
                return
            assert client.enqueue("q", "a") == 1  # the first: the check, the enqueue, its resend after NOSCRIPT
            before = _waits(primary, "waitaof")
            assert client.enqueue("q", "a") == 1
            assert _waits(primary, "waitaof") - before == 1
            with _raw(replica) as on_replica:
                assert on_replica.llen(QueueKeys(prefix, "q").pending) == 2
            with Worqr(redis=primary.url, prefix=prefix, durability=Durability(aof=True, timeout=0.3)) as quick:
                replica.pause()
                try:
                    with pytest.raises(ReplicationTimeoutError, match="only 0 of 1 replica"):
                        quick.enqueue("q", "b")
                finally:
                    replica.resume()
        with _raw(primary) as on_primary:
            on_primary.config_set("appendonly", "no")
        with Worqr(redis=primary.url, prefix=prefix, durability=Durability(aof=True, replicas=0)) as client:
            with pytest.raises(RedisCommandError, match="appendonly is disabled"):
                client.enqueue("q", "c")
            assert client.count_queue("q") == 3
    finally:
        replica.close()
        primary.close()
