"""Leases with the asyncio client, against a real server: the same guarantees as
tests/test_leases.py (tokens, standbys woken by a release, renewal, release on reap, leader
election), with ``async with lease.hold()`` and coroutine callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis

from tests.runtime_helpers import FAST, LONG
from worqr import AsyncLeadership, AsyncTerm, AsyncWorqr, LeaseTimeoutError, WorkerNotStartedError
from worqr._protocol.keys import RegistryKeys

MakeAsyncWorqr = Callable[..., AsyncWorqr]
FOREVER = 600.0


async def started(make_async_worqr: MakeAsyncWorqr) -> AsyncWorqr:
    client = make_async_worqr(**FAST)
    await client.start_worker()
    return client


def alive(term: AsyncTerm) -> bool:
    return term.alive


def leading(leadership: AsyncLeadership) -> bool:
    return leadership.is_leader


async def test_tokens_increase_and_a_standby_takes_over_on_release(make_async_worqr: MakeAsyncWorqr) -> None:
    a, b = await started(make_async_worqr), await started(make_async_worqr)
    holder, standby = a.lease("job", ttl=FOREVER), b.lease("job", ttl=FOREVER)
    first = await holder.acquire()
    assert first is not None and first.holder == a.worker_id
    assert await standby.try_acquire() is None
    waiting = asyncio.ensure_future(standby.acquire(timeout=LONG))
    await asyncio.sleep(0)  # let the standby start waiting (either order is correct)
    assert await holder.release()
    second = await asyncio.wait_for(waiting, LONG)  # heard: the 600 s ttl was not waited out
    assert second is not None and second.token == first.token + 1 and second.holder == b.worker_id
    assert await a.lease("job").holder() == b.worker_id
    assert await a.check_fence("job", second.token) and not await a.check_fence("job", first.token)


async def test_hold_renews_past_the_ttl_releases_on_exit_and_times_out(make_async_worqr: MakeAsyncWorqr) -> None:
    a, b = await started(make_async_worqr), await started(make_async_worqr)
    lease = a.lease("job", ttl=0.3)
    async with lease.hold(timeout=LONG) as term:
        assert await term.wait_lost(timeout=1.0) is False
        assert term.alive
        with pytest.raises(LeaseTimeoutError):
            async with b.lease("job").hold(timeout=0.05):
                pytest.fail("two holders")
    assert not alive(term) and await lease.holder() is None


async def test_a_reaped_worker_releases_its_leases_to_a_standby(
    make_async_worqr: MakeAsyncWorqr, raw: redis.Redis
) -> None:
    victim, peer = await started(make_async_worqr), await started(make_async_worqr)
    held = await victim.lease("job", ttl=FOREVER).acquire()
    assert held is not None
    waiting = asyncio.ensure_future(peer.lease("job", ttl=FOREVER).acquire(timeout=LONG))
    supervisor = victim._supervisor  # freeze its heartbeat, as a SIGSTOP would
    assert supervisor is not None
    await supervisor.stop()
    raw.delete(RegistryKeys(victim.prefix).heartbeat(victim.worker_id))
    assert await peer.cleanup_workers() == [victim.worker_id]
    taken = await asyncio.wait_for(waiting, LONG)
    assert taken is not None and taken.token == held.token + 1
    assert await held.wait_lost(timeout=LONG)


async def test_leader_election_with_coroutine_callbacks(make_async_worqr: MakeAsyncWorqr) -> None:
    events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def elected(term: AsyncTerm) -> None:
        await events.put(("elected", term.holder))

    async def lost(term: AsyncTerm) -> None:
        await events.put(("lost", term.holder))

    a, b = await started(make_async_worqr), await started(make_async_worqr)
    one = a.leader("feed", on_elected=elected, on_lost=lost)
    assert await asyncio.wait_for(events.get(), LONG) == ("elected", a.worker_id)
    two = b.leader("feed", on_elected=elected)
    assert await two.leader() == a.worker_id and leading(one) and not two.is_leader
    await one.close()
    assert await asyncio.wait_for(events.get(), LONG) == ("lost", a.worker_id)
    assert await asyncio.wait_for(events.get(), LONG) == ("elected", b.worker_id)
    assert leading(two) and not leading(one)
    await b.close()  # closing the client steps its leadership down too
    assert not leading(two)


async def test_a_lease_needs_a_started_worker(make_async_worqr: MakeAsyncWorqr) -> None:
    with pytest.raises(WorkerNotStartedError, match=r"start_worker\(\) first"):
        make_async_worqr(**FAST).lease("job")
