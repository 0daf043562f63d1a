"""Sentinel: worqr reaches the primary through a ``redis+sentinel://`` URL or a
``Sentinel.master_for`` client, and after a failover its heartbeats, reaper, event listener
and runtime worker find the new primary by themselves. Real servers: a primary, a replica and
three sentinels (`worqr.testing.LocalSentinel`). docs/scaling.md has the figures measured here.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

from tests.helpers import pause_heartbeat, wait_until
from worqr import (
    AsyncWorqr,
    Durability,
    Event,
    InvalidArgumentError,
    Process,
    RedisUnavailableError,
    ReplicationTimeoutError,
    Worqr,
)
from worqr._io._async.connect import async_pool
from worqr._io._sync.connect import sync_pool
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr.testing import LocalSentinel

#: Failover runs of the durability proof; CI runs 3, ``WORQR_FAILOVER_RUNS=20`` runs more.
FAILOVER_RUNS = int(os.environ.get("WORQR_FAILOVER_RUNS", "3"))
#: A liveness bound, not a performance claim: the measured figure is printed and documented.
RESUME_BOUND = 30.0


@pytest.fixture(scope="module")
def setup() -> Iterator[LocalSentinel]:
    """One primary, one replica, three sentinels, for the tests that do not fail it over."""
    with LocalSentinel() as started:
        yield started


def _prefix() -> str:
    return f"sen-{uuid.uuid4().hex[:10]}"


def _raw(port: int) -> Any:
    """A plain client to one server, for looking behind worqr's back (its commands are untyped)."""
    return redis.Redis(port=port, socket_timeout=5)


# Through a Sentinel URL or a master_for client -------------------------------------------------


def _round_trip(client: Worqr, primary: redis.Redis) -> None:
    """Enqueue, hear the event, dequeue and finish; the data is on the primary."""
    heard: list[Event] = []
    client.on("q", heard.append)
    assert client.enqueue("q", ["a", "b"]) == 2
    assert primary.lrange(QueueKeys(client.prefix, "q").pending, 0, -1) == [b"a", b"b"]
    wait_until(lambda: any(e.type == "work" for e in heard), timeout=5)
    client.start_worker()
    client.start_work("q")
    process = client.dequeue("q")
    assert process is not None
    assert process.task == "a"
    client.finish_process(process.id)
    assert client.count_queue("q") == 1


def test_a_sentinel_url_and_a_master_for_client_reach_the_primary(setup: LocalSentinel) -> None:
    primary = _raw(setup.primary.port)
    with Worqr(redis=setup.url, prefix=_prefix()) as client:
        _round_trip(client, primary)
    sentinel = redis.sentinel.Sentinel(setup.sentinel_addresses, socket_timeout=2)
    master: redis.Redis = sentinel.master_for(setup.service, socket_timeout=5)
    try:
        with Worqr(redis=master, prefix=_prefix()) as client:
            _round_trip(client, primary)
    finally:
        master.close()
        sentinel.close()
        primary.close()


async def _async_round_trip(client: AsyncWorqr, primary: redis.Redis) -> None:
    heard: list[Event] = []
    await client.on("q", heard.append)
    assert await client.enqueue("q", ["a", "b"]) == 2
    assert primary.lrange(QueueKeys(client.prefix, "q").pending, 0, -1) == [b"a", b"b"]
    await client.start_worker()
    await client.start_work("q")
    process = await client.dequeue("q")
    assert process is not None
    assert process.task == "a"
    await client.finish_process(process.id)
    assert await client.count_queue("q") == 1
    deadline = time.monotonic() + 5
    while not any(e.type == "work" for e in heard):
        assert time.monotonic() < deadline, "no work event within 5 s"
        await asyncio.sleep(0.01)


async def test_the_async_client_reaches_the_primary_through_sentinel(setup: LocalSentinel) -> None:
    primary = _raw(setup.primary.port)
    async with AsyncWorqr(redis=setup.url, prefix=_prefix()) as client:
        await _async_round_trip(client, primary)
    sentinel = redis.asyncio.sentinel.Sentinel(setup.sentinel_addresses, socket_timeout=2)
    master = sentinel.master_for(setup.service, socket_timeout=5)
    try:
        async with AsyncWorqr(redis=master, prefix=_prefix()) as client:
            await _async_round_trip(client, primary)
    finally:
        await master.aclose()
        await sentinel.aclose()
        primary.close()


# Sentinel URLs -----------------------------------------------------------------------------------


def test_a_sentinel_url_gives_a_pool_on_the_named_service() -> None:
    url = "redis+sentinel://app:s%40cret@10.0.0.1:26380,10.0.0.2,[::1]:26381/my%20service/3?socket_timeout=7&sentinel_password=sp"
    pool: Any
    pool, owned = sync_pool(url)
    try:
        assert owned
        assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
        assert pool.service_name == "my service"
        manager = pool.sentinel_manager
        addresses = [
            (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in manager.sentinels
        ]
        assert addresses == [("10.0.0.1", 26380), ("10.0.0.2", 26379), ("::1", 26381)]
        assert manager.sentinels[0].connection_pool.connection_kwargs["password"] == "sp"  # noqa: S105
        kwargs = pool.connection_kwargs
        assert (kwargs["username"], kwargs["password"], kwargs["db"], kwargs["socket_timeout"]) == (
            "app",
            "s@cret",
            3,
            7.0,
        )
        assert pool.connection_class is redis.sentinel.SentinelManagedConnection
    finally:
        pool.disconnect()


async def test_a_tls_sentinel_url_gives_tls_connections_to_the_primary_and_the_sentinels() -> None:
    pool: Any
    pool, _ = async_pool("rediss+sentinel://127.0.0.1:26379/mymaster?ssl_ca_certs=/tmp/ca.crt")
    try:
        assert pool.connection_class is redis.asyncio.sentinel.SentinelManagedSSLConnection
        assert pool.connection_kwargs["ssl_ca_certs"] == "/tmp/ca.crt"
        sentinel_kwargs = pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs
        assert sentinel_kwargs["ssl_ca_certs"] == "/tmp/ca.crt"
        assert issubclass(
            pool.sentinel_manager.sentinels[0].connection_pool.connection_class, redis.asyncio.SSLConnection
        )
    finally:
        await pool.aclose()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+sentinel://", "names no sentinel"),
        ("redis+sentinel://u:hunter2@h:26379", "names no service"),
        ("redis+sentinel://h:26379/", "names no service"),
        ("redis+sentinel://h:port/svc", "no valid port"),
        ("redis+sentinel://h:70000/svc", "no valid port"),
        ("redis+sentinel://h:1,:2/svc", "has no host"),
        ("redis+sentinel://u:hunter2@h:1/svc/zero", "database must be a number"),
        ("redis+sentinel://h:1/svc/0/extra", "database must be a number"),
        ("redis+sentinel://h:1/svc?socket_timeout=soon", "socket_timeout"),
    ],
)
def test_a_bad_sentinel_url_is_refused_with_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(InvalidArgumentError, match=problem) as caught:
        Worqr(redis=url)
    assert "redis+sentinel://[user:password@]host:port" in str(caught.value)
    assert "hunter2" not in str(caught.value)


# A demoted primary: READONLY is "not applied" ------------------------------------------------------


async def test_writes_to_a_demoted_primary_are_not_reported_as_maybe_applied(
    make_local_sentinel: Callable[..., LocalSentinel],
) -> None:
    """A primary turned into a replica (here by a coordinated FAILOVER) answers READONLY:
    nothing was applied, so worqr retries on a fresh connection instead of reporting a
    state change that may or may not have happened. The sentinels take tens of seconds to
    see this kind of switch, so a client that asks them may meet the old primary until its
    retries run out: then the error says nothing was applied. A plain URL to the old primary
    always ends that way."""
    setup = make_local_sentinel()
    old, new = _raw(setup.primary.port), _raw(setup.replicas[0].port)
    prefix = _prefix()
    via_sentinel = Worqr(redis=setup.url, prefix=prefix)
    plain = Worqr(redis=setup.primary.url, prefix=prefix)
    async_via_sentinel = AsyncWorqr(redis=setup.url, prefix=prefix)
    try:
        via_sentinel.enqueue("q", "before")  # each client now holds a connection to the old primary
        plain.enqueue("q", "before")
        await async_via_sentinel.enqueue("q", "before")
        old.execute_command("FAILOVER")
        wait_until(lambda: old.execute_command("ROLE")[0] == b"slave" and new.execute_command("ROLE")[0] == b"master")

        outcomes = await asyncio.gather(
            asyncio.to_thread(via_sentinel.enqueue, "q", "after"),
            asyncio.to_thread(plain.enqueue, "q", "after"),
            async_via_sentinel.enqueue("q", "after"),
            return_exceptions=True,
        )
    finally:
        via_sentinel.close()
        plain.close()
        await async_via_sentinel.close()
    assert isinstance(outcomes[1], RedisUnavailableError), outcomes
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, RedisUnavailableError), outcome
            assert not outcome.maybe_applied
            assert "read-only replica" in str(outcome)
    applied = sum(1 for outcome in outcomes if outcome == 1)
    assert new.lrange(QueueKeys(prefix, "q").pending, 0, -1) == [b"before"] * 3 + [b"after"] * applied
    assert "errorstat_READONLY" in old.info("errorstats")  # the READONLY path was taken
    old.close()
    new.close()


# Kill the primary mid-drain --------------------------------------------------------------------


@dataclass
class Drain:
    """What a runtime worker's handler saw, with the time of each task."""

    handled: list[str] = field(default_factory=list)
    at: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self, process: Process[str]) -> None:
        time.sleep(0.004)
        with self.lock:
            self.handled.append(process.task)
            self.at[process.task] = time.monotonic()

    def seen(self) -> set[str]:
        with self.lock:
            return set(self.handled)


def _check_listener_and_heartbeat(setup: LocalSentinel, client: Worqr, heard: list[Event]) -> None:
    """After the failover: the listener hears a new enqueue, and the heartbeat is renewed."""
    with Worqr(redis=setup.url, prefix=client.prefix) as late_producer:
        late_producer.enqueue("marker", "m")
    wait_until(lambda: any(e.type == "work" and e.queue == "marker" for e in heard), timeout=RESUME_BOUND)
    heartbeat = RegistryKeys(client.prefix).heartbeat(client.worker_id)
    with _raw(setup.primary.port) as new:
        first_ttl = new.pttl(heartbeat)
        time.sleep(1.0)  # longer than two heartbeat intervals: a live heartbeat renews the lease
        second_ttl = new.pttl(heartbeat)
    assert first_ttl > 8500 and second_ttl > 8500, (first_ttl, second_ttl)  # worker_timeout is 10 s


def test_a_runtime_worker_drains_across_a_primary_kill(make_local_sentinel: Callable[..., LocalSentinel]) -> None:
    """Kill the primary while a runtime worker drains: the worker, its heartbeat, its reaper
    and an event listener carry on with the promoted replica by themselves; every task is
    handled (at least once: none is lost)."""
    setup = make_local_sentinel()
    prefix, count, concurrency = _prefix(), 300, 4
    tasks = [f"t{i}" for i in range(count)]
    with Worqr(redis=setup.url, prefix=prefix, durability=Durability(timeout=5.0)) as producer:
        producer.enqueue("q", tasks)  # confirmed by the replica: no task can be lost in the kill
    peer = Worqr(redis=setup.url, prefix=prefix, worker_timeout=4.0, heartbeat_interval=0.5)
    observer = Worqr(redis=setup.url, prefix=prefix)
    client = Worqr(
        redis=setup.url,
        prefix=prefix,
        worker_timeout=10.0,
        heartbeat_interval=0.5,
        cleanup_interval=0.5,
        poll_interval=0.5,
    )
    drain = Drain()
    heard: list[Event] = []
    try:
        peer.start_worker()
        peer.start_work("q")
        held = peer.dequeue("q")  # the peer will die holding t0; a reaper must give it back
        assert held is not None
        assert held.task == "t0"
        observer.on("marker", heard.append)
        worker = client.worker("q", drain.handler, concurrency=concurrency)
        worker.start()
        wait_until(lambda: len(drain.seen()) >= count // 5, timeout=10)

        pause_heartbeat(peer)
        killed_at = time.monotonic()
        setup.primary.stop()
        processed = worker.stats.processed  # at most `concurrency` more can be old replies in flight
        setup.kill_primary()
        promoted_at = time.monotonic()
        wait_until(lambda: worker.stats.processed > processed + concurrency, timeout=RESUME_BOUND)
        resumed_at = time.monotonic()
        wait_until(lambda: drain.seen() == set(tasks), timeout=RESUME_BOUND)
        with drain.lock:
            drained_at = max(at for task, at in drain.at.items() if task != "t0")

        _check_listener_and_heartbeat(setup, client, heard)
        new = _raw(setup.primary.port)
        worker.stop()
        left = [task.decode() for task in new.lrange(QueueKeys(prefix, "q").pending, 0, -1)]
        new.close()
    finally:
        client.close()
        peer.close()
        observer.close()
    print(
        f"\nfailover: promotion {promoted_at - killed_at:.2f} s after the kill, first finish on the new "
        f"primary {resumed_at - killed_at:.2f} s after it, queue drained {drained_at - killed_at:.2f} s after it, "
        f"the dead peer's task reaped and handled {drain.at['t0'] - killed_at:.2f} s after it; "
        f"{len(drain.handled) - count} handled twice; {len(left)} finish(es) lost and requeued on shutdown"
    )
    assert resumed_at - killed_at < RESUME_BOUND
    assert set(left) <= set(tasks)  # a finish lost in the failover puts its task back: never lost


# The proof: durable enqueue loses no acknowledged task in a failover ---------------------------


@dataclass
class Producer:
    """Enqueues one task at a time until stopped; keeps the tasks Redis acknowledged."""

    client: Worqr
    queue: str
    acknowledged: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def answered(self) -> int:
        """Enqueues the server answered (durable ones with no replica left are unconfirmed)."""
        return len(self.acknowledged) + len(self.unconfirmed)

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            task = f"{self.queue}-{n}"
            n += 1
            try:
                self.client.enqueue(self.queue, task)
            except ReplicationTimeoutError:
                self.unconfirmed.append(task)  # applied, but not acknowledged as durable
            except RedisUnavailableError:
                self.failed.append(task)
            else:
                self.acknowledged.append(task)


def _failover_under_load(setup: LocalSentinel, seed: int) -> dict[str, tuple[int, int]]:
    """One run: two producers (durable and not) enqueue while the replica's link is cut and
    the primary dies. Returns (acknowledged, lost of them) per producer."""
    rng = random.Random(seed)
    prefix = _prefix()
    durable = Producer(Worqr(redis=setup.url, prefix=prefix, durability=Durability(timeout=0.5)), "durable")
    plain = Producer(Worqr(redis=setup.url, prefix=prefix), "plain")
    threads = [threading.Thread(target=p.run, daemon=True) for p in (durable, plain)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.05, 0.2))
        with _raw(setup.primary.port) as old, _raw(setup.replicas[0].port) as replica:
            # Cut the replication link and keep it cut (the replica's AUTH now fails), as a
            # network fault would; the primary goes on acknowledging writes ...
            replica.config_set("masterauth", "cut-off")
            old.execute_command("CLIENT", "KILL", "TYPE", "replica")
            wait_until(lambda: replica.info("replication")["master_link_status"] == "down", timeout=5)
        time.sleep(rng.uniform(0.05, 0.3))
        setup.kill_primary()  # ... until it dies, and the replica takes over
        marks = {p.queue: p.answered() for p in (durable, plain)}
        wait_until(lambda: all(p.answered() > marks[p.queue] for p in (durable, plain)), timeout=RESUME_BOUND)
    finally:
        for p in (durable, plain):
            p.stop.set()
        for thread in threads:
            thread.join(timeout=RESUME_BOUND)
        durable.client.close()
        plain.client.close()
    with _raw(setup.primary.port) as new:
        present = {
            q: {t.decode() for t in new.lrange(QueueKeys(prefix, q).pending, 0, -1)} for q in ("durable", "plain")
        }
    return {p.queue: (len(p.acknowledged), len(set(p.acknowledged) - present[p.queue])) for p in (durable, plain)}


def test_durable_enqueue_loses_no_acknowledged_task_in_a_failover(
    make_local_sentinel: Callable[..., LocalSentinel],
) -> None:
    """Over several runs, kill the primary while its only replica's link is cut (as by a
    network fault): enqueues acknowledged without durability are lost, durable ones never.
    (A plain kill loses nothing on loopback: the replication stream is already in the kernel's
    socket buffers when the primary dies; see docs/scaling.md.)"""
    lines, plain_losses = [], 0
    for run in range(FAILOVER_RUNS):
        setup = make_local_sentinel(down_after_ms=500)
        outcome = _failover_under_load(setup, seed=run)
        setup.close()
        (durable_acknowledged, durable_lost), (plain_acknowledged, plain_lost) = outcome["durable"], outcome["plain"]
        assert durable_acknowledged > 0, f"run {run}: no durable enqueue was acknowledged; the run proves nothing"
        assert durable_lost == 0, (
            f"run {run}: {durable_lost} of {durable_acknowledged} acknowledged durable enqueues lost"
        )
        plain_losses += plain_lost
        lines.append(
            f"run {run}: durable lost 0 of {durable_acknowledged} acknowledged; plain lost {plain_lost} of {plain_acknowledged}"
        )
    print("\n" + "\n".join(lines) + f"\nplain enqueue lost {plain_losses} acknowledged tasks over {FAILOVER_RUNS} runs")
