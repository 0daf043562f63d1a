"""Runtime workers under faults between them and Redis, made by a real TCP proxy on
loopback (`worqr.testing.FaultProxy`): they ride out an outage longer than their timeout
under the same worker id, never crash while joining again, find out what they hold after a
lost reply, stop their handlers on their own clock when they cannot confirm their heartbeat,
and judge each heartbeat reply against the registration it was sent for."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from tests.async_runtime_helpers import eventually
from tests.helpers import wait_until
from tests.runtime_helpers import LONG, DoneEvents
from worqr import AsyncWorqr, Process, WorkerLostError, Worqr, cancel_token
from worqr._protocol import flows, ops
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr.testing import FaultProxy, RedisServer

#: Settings for workers that go through the proxy: an outage of a second or two is longer
#: than their timeout; no cleanup of their own (peers reap them when a test says so).
TIGHT: dict[str, Any] = {
    "heartbeat_interval": 0.1,
    "worker_timeout": 0.6,
    "cleanup_interval": 60.0,
    "poll_interval": 0.2,
}


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as private:
        yield private


@pytest.fixture
def proxy(server: RedisServer) -> Iterator[FaultProxy]:
    with FaultProxy(server.port) as running:
        yield running


def _heartbeat_gone(server: RedisServer, prefix: str, worker_id: str) -> Callable[[], bool]:
    raw = redis.Redis.from_url(server.url)
    key = RegistryKeys(prefix).heartbeat(worker_id)

    def gone() -> bool:
        return raw.exists(key) == 0

    return gone


# 0. Held tasks start while slots are free --------------------------------------------------


@pytest.mark.parametrize("concurrency", [4, 20])
def test_every_task_a_threaded_worker_holds_starts_while_it_has_free_slots(
    server: RedisServer, concurrency: int
) -> None:
    """(The review counted handlers by the lines they printed: threads interleave print's
    text and its newline, so the count came out low; the handlers had all started.)"""
    started: set[str] = set()
    lock = threading.Lock()
    all_started = threading.Event()

    def hold(process: Process[str]) -> None:
        with lock:
            started.add(process.task)
            if len(started) == concurrency:
                all_started.set()
        cancel_token().wait(LONG)

    with Worqr(redis=server.url, prefix="held", worker_id="w1") as wq:
        wq.enqueue("jobs", [f"t{i}" for i in range(concurrency)])
        worker = wq.worker("jobs", hold, concurrency=concurrency, grace=0)
        worker.start()
        try:
            assert all_started.wait(LONG), sorted(started)
            assert worker.stats.in_flight == concurrency
        finally:
            worker.stop(grace=0)


@pytest.mark.parametrize("concurrency", [4, 20])
async def test_every_task_an_asyncio_worker_holds_starts_while_it_has_free_slots(
    server: RedisServer, concurrency: int
) -> None:
    started: set[str] = set()
    all_started = asyncio.Event()

    async def hold(process: Process[str]) -> None:
        started.add(process.task)
        if len(started) == concurrency:
            all_started.set()
        await asyncio.sleep(LONG)

    async with AsyncWorqr(redis=server.url, prefix="held", worker_id="w1") as wq:
        await wq.enqueue("jobs", [f"t{i}" for i in range(concurrency)])
        worker = wq.worker("jobs", hold, concurrency=concurrency, grace=0)
        await worker.start()
        try:
            await asyncio.wait_for(all_started.wait(), LONG)
            assert worker.stats.in_flight == concurrency
        finally:
            await worker.stop(grace=0)


# 1. An outage longer than worker_timeout -------------------------------------------------------


def test_a_worker_rides_out_an_outage_longer_than_its_timeout_under_its_own_id(
    server: RedisServer, proxy: FaultProxy
) -> None:
    told: list[str | None] = []

    def handle(process: Process[str]) -> str:
        if process.task == "long" and process.attempt == 1:
            token = cancel_token()
            token.wait(LONG)
            told.append(token.reason)
        return process.task

    with (
        Worqr(redis=server.url, prefix="outage") as producer,
        Worqr(redis=proxy.url_for(server.url), prefix="outage", worker_id="machine-7", **TIGHT) as wq,
    ):
        done = DoneEvents(producer)
        worker = wq.worker("jobs", handle, concurrency=2)
        worker.start()
        try:
            producer.enqueue("jobs", "long")
            wait_until(lambda: worker.stats.in_flight == 1)
            proxy.partition()
            wait_until(_heartbeat_gone(server, "outage", "machine-7"))  # Redis's clock ran on
            wait_until(lambda: "machine-7" in producer.cleanup_workers())  # a peer reaped it
            proxy.heal()
            wait_until(lambda: wq._session.state.is_live() and not wq._session.state.missing(["jobs"]), LONG)
            assert told == ["worker lost"]  # its handler was told, on its own clock or once it heard
            producer.enqueue("jobs", "after")
            wait_until(lambda: done.results().get("after") == "after", LONG)
            wait_until(lambda: done.results().get("long") == "long", LONG)  # the requeued one ran again
            assert worker.running
            assert wq.worker_id == "machine-7"
            assert producer.get_workers() == ["machine-7"]
            assert {m["worker_id"] for m in done.messages} == {"machine-7"}
        finally:
            worker.stop(grace=0)


async def test_async_a_worker_rides_out_an_outage_longer_than_its_timeout_under_its_own_id(
    server: RedisServer, proxy: FaultProxy
) -> None:
    async def handle(process: Process[str]) -> str:
        if process.task == "long" and process.attempt == 1:
            await asyncio.sleep(LONG)
        return process.task

    with Worqr(redis=server.url, prefix="outage") as producer:  # a plain peer, on a thread of its own
        done = DoneEvents(producer)
        async with AsyncWorqr(redis=proxy.url_for(server.url), prefix="outage", worker_id="machine-7", **TIGHT) as wq:
            worker = wq.worker("jobs", handle, concurrency=2)
            await worker.start()
            try:
                producer.enqueue("jobs", "long")
                await eventually(lambda: worker.stats.in_flight == 1)
                proxy.partition()
                await eventually(_heartbeat_gone(server, "outage", "machine-7"))
                await eventually(lambda: "machine-7" in producer.cleanup_workers())
                proxy.heal()
                state = wq._session.state
                await eventually(lambda: state.is_live() and not state.missing(["jobs"]), LONG)
                producer.enqueue("jobs", "after")
                await eventually(lambda: set(done.results()) == {"long", "after"}, LONG)
                assert worker.running
                assert producer.get_workers() == ["machine-7"]
                assert {m["worker_id"] for m in done.messages} == {"machine-7"}
            finally:
                await worker.stop(grace=0)


def test_without_restart_on_loss_the_error_says_redis_could_not_be_reached(
    server: RedisServer, proxy: FaultProxy
) -> None:
    with Worqr(redis=proxy.url_for(server.url), prefix="outage", **TIGHT) as wq:
        worker = wq.worker("jobs", lambda _process: None, restart_on_loss=False)
        worker.start()  # returns once registered and subscribed
        proxy.partition()
        wait_until(lambda: not worker.running, LONG)
        proxy.heal()
        assert isinstance(worker._error, WorkerLostError)
        assert "could not confirm its heartbeat" in str(worker._error)
        assert "declared dead by its peers" not in str(worker._error)


def test_declared_dead_by_a_peer_says_so(server: RedisServer) -> None:
    with Worqr(redis=server.url, prefix="peer", **TIGHT) as wq, Worqr(redis=server.url, prefix="peer") as peer:
        worker = wq.worker("jobs", lambda _process: None, restart_on_loss=False)
        worker.start()
        peer.fail_worker(wq.worker_id)
        wait_until(lambda: not worker.running, LONG)
        assert isinstance(worker._error, WorkerLostError)
        assert "declared dead by its peers" in str(worker._error)


# 2. Joining again never crashes the loop -------------------------------------------------------


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_worker_whose_queues_cannot_be_joined_again_keeps_trying_and_never_crashes(
    server: RedisServer, flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    """After a loss the worker registers again but joining its queue fails (here: the queue's
    workers key was clobbered, so the script refuses it); the loop must keep trying, not
    dequeue from a queue it has not joined."""
    caplog.set_level(logging.WARNING, logger="worqr")
    raw = redis.Redis.from_url(server.url)
    workers_key = QueueKeys("rejoin", "jobs").workers

    def clobber_then_fix(worker_running: Callable[[], bool]) -> None:
        raw.set(workers_key, "clobbered")
        wait_until(lambda: "could not join again" in caplog.text, LONG)
        time.sleep(0.3)  # a few more tries: each must fail cleanly (the log proves they happen)
        assert worker_running()
        raw.delete(workers_key)

    if flavour == "sync":
        with Worqr(redis=server.url, prefix="rejoin", **TIGHT) as wq, Worqr(redis=server.url, prefix="rejoin") as peer:
            done = DoneEvents(peer)
            worker = wq.worker("jobs", lambda p: p.task)
            worker.start()
            try:
                raw.delete(workers_key)
                peer.fail_worker(wq.worker_id)
                clobber_then_fix(lambda: worker.running)
                peer.enqueue("jobs", "after")
                wait_until(lambda: done.results().get("after") == "after", LONG)
                assert worker.running
            finally:
                worker.stop(grace=0)
    else:

        async def scenario() -> None:
            async with AsyncWorqr(redis=server.url, prefix="rejoin", **TIGHT) as wq:
                worker = wq.worker("jobs", _echo)
                await worker.start()
                try:
                    raw.delete(workers_key)
                    with Worqr(redis=server.url, prefix="rejoin") as peer:
                        done = DoneEvents(peer)
                        peer.fail_worker(wq.worker_id)
                        await asyncio.to_thread(clobber_then_fix, lambda: worker.running)
                        peer.enqueue("jobs", "after")
                        await eventually(lambda: done.results().get("after") == "after", LONG)
                    assert worker.running
                finally:
                    await worker.stop(grace=0)

        asyncio.run(scenario())
    raw.close()


async def _echo(process: Process[str]) -> str:
    return process.task


# 3. A lost dequeue reply -------------------------------------------------------------------


def test_a_worker_finds_the_tasks_a_lost_dequeue_reply_left_it_holding(server: RedisServer, proxy: FaultProxy) -> None:
    """Requests reach Redis but replies are lost: the dequeue that went with the first task's
    result moved the next task into this worker's processes. Once Redis answers again, the
    worker finds it there and gives it back to the front: it runs next, in order."""
    release = threading.Event()
    ran: list[str] = []

    def handle(process: Process[str]) -> str:
        ran.append(process.task)
        if process.task == "first":
            release.wait(LONG)
        return process.task

    # A permanent worker (no heartbeat expiry) on a client with short socket timeouts: only the
    # lost reply is at play here, not a loss of the worker.
    client = redis.Redis.from_url(proxy.url_for(server.url), socket_timeout=1.0)
    with (
        Worqr(redis=server.url, prefix="lost") as producer,
        Worqr(redis=client, prefix="lost", worker_timeout=None, poll_interval=0.2) as wq,
    ):
        done = DoneEvents(producer)
        worker = wq.worker("jobs", handle, prefetch=0)
        worker.start()
        try:
            producer.enqueue("jobs", "first")
            wait_until(lambda: ran == ["first"])
            producer.enqueue("jobs", ["second", "third"])
            proxy.swallow_replies()
            release.set()  # its result and the next dequeue go out together; the reply is lost
            processes = QueueKeys("lost", "jobs").processes(wq.worker_id)
            raw = redis.Redis.from_url(server.url)
            # The dequeue ran (its reply was lost): "second" is this worker's, "third" waits.
            wait_until(lambda: b"second" in raw.hvals(processes) and producer.get_tasks("jobs") == ["third"], LONG)
            proxy.heal()
            wait_until(lambda: set(done.results()) == {"first", "second", "third"}, LONG)
            assert ran == ["first", "second", "third"]
            raw.close()
        finally:
            worker.stop(grace=0)
    client.close()


# 5. Half-open links: the worker stops its handlers on its own clock ----------------------------


@pytest.mark.parametrize("fault", ["partition", "blackhole"])
def test_a_cut_off_singleton_holder_stops_before_a_standby_takes_over(
    server: RedisServer, proxy: FaultProxy, fault: str
) -> None:
    """A persistent task's holder whose link goes silent (no FIN, no RST) stops its handler
    before its peers can give the task to a standby: the two never hold it at once."""
    spans: dict[str, list[float]] = {}

    def hold(name: str) -> Callable[[Process[str]], None]:
        def run(process: Process[str]) -> None:
            spans[name] = [time.monotonic()]
            cancel_token().wait(LONG)
            spans[name].append(time.monotonic())

        return run

    with (
        Worqr(redis=server.url, prefix="single") as producer,
        Worqr(redis=proxy.url_for(server.url), prefix="single", worker_id="holder", **TIGHT) as cut,
        Worqr(redis=server.url, prefix="single", worker_id="standby", **{**TIGHT, "cleanup_interval": 0.2}) as standby,
    ):
        producer.enqueue("conns", "conn-1")
        holder = cut.persistent_worker("conns", hold("holder"), restart_on_loss=False)
        holder.start()
        wait_until(lambda: "holder" in spans)
        backup = standby.persistent_worker("conns", hold("standby"))
        backup.start()
        try:
            getattr(proxy, fault)()
            wait_until(lambda: "standby" in spans, LONG)
            assert len(spans["holder"]) == 2, "the holder's handler was told to stop"
            overlap = spans["holder"][1] - spans["standby"][0]
            print(f"\n[singleton] {fault}: holder stopped {-overlap:.3f} s before the standby started")
            assert overlap < 0
        finally:
            proxy.heal()
            backup.stop(grace=0)
            holder.stop(grace=0)


def test_a_listener_whose_connection_goes_silent_opens_a_new_one(
    server: RedisServer, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="worqr")
    with Worqr(redis=proxy.url_for(server.url), prefix="silent", **TIGHT) as wq:
        heard: list[str] = []
        wq.on("jobs", lambda e: heard.append(e.type))
        accepted = proxy.stats().accepted
        proxy.blackhole()
        wait_until(lambda: "no answer to a PING" in caplog.text, LONG)
        proxy.heal()
        proxy.wait_for(lambda s: s.accepted > accepted, LONG)  # it opened a new connection


# 6. A late heartbeat reply ---------------------------------------------------------------------


def test_a_late_heartbeat_reply_is_judged_against_the_registration_it_was_sent_for(server: RedisServer) -> None:
    with Worqr(redis=server.url, prefix="late", **TIGHT) as wq:
        wq.start_worker()
        assert wq._supervisor is not None
        wq._supervisor.stop()  # this test sends the heartbeats
        session = wq._session
        beat = flows.heartbeat(session)
        first = next(beat)  # the heartbeat of the first registration, not yet sent
        assert isinstance(first, list)
        (call,) = first
        wq.fail_worker()  # the worker leaves: its heartbeat key is gone
        (reply,) = wq._runner.run([call])  # the beat finds it gone...
        wq.start_worker()  # ...but the worker registered again before the reply came back
        with pytest.raises(StopIteration) as stop:
            beat.send([reply])
        assert stop.value.value is True  # nothing to say of the current registration
        assert session.state.is_live()
        assert wq.worker_id in wq.get_workers()


# The queues' fence tells a worker id's incarnations apart ------------------------------------


def test_a_dequeue_an_earlier_incarnation_sent_and_redis_applies_late_takes_nothing(server: RedisServer) -> None:
    with Worqr(redis=server.url, prefix="inc", worker_id="w1") as wq, Worqr(redis=server.url, prefix="inc") as producer:
        wq.start_worker()
        wq.start_work("jobs")
        session = wq._session
        late = ops.dequeue(session.queue("jobs"), "w1", 1, session.state.incarnation)  # sent, not yet applied
        wq.fail_worker()  # the worker was lost...
        wq.start_worker()  # ...and registered again under its id
        wq.start_work("jobs")
        producer.enqueue("jobs", "task")
        with pytest.raises(WorkerLostError):
            wq._runner.run([late])  # Redis applies the earlier incarnation's dequeue now
        assert producer.get_tasks("jobs") == ["task"]  # nothing moved
        process = wq.dequeue("jobs")  # the current incarnation takes it
        assert process is not None
        assert process.task == "task"


# 7. A worker registered again fences itself by its own deadline --------------------------------


def test_a_worker_registered_again_fences_itself_while_its_heartbeat_hangs(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat tick in flight when a worker was lost can hang for as long as Redis stays
    unreachable (a read timeout, then retries): the incarnation the runtime registers again
    meanwhile must still stop its handlers by its own deadline (its registration +
    worker_timeout), not when that tick ends. Here every tick hangs from some point on while
    the runtime's own calls get through; the soak saw a persistent task held 5.7 s past its
    holder's deadline, by a peer too."""
    from worqr._protocol.supervision import supervise as real

    gate = threading.Event()
    gate.set()

    def hanging(session: Any, *, cleanup: bool) -> Any:
        gate.wait(LONG)
        return (yield from real(session, cleanup=cleanup))

    monkeypatch.setattr("worqr._io._sync.supervisor.supervise", hanging)
    holds: list[tuple[str, float]] = []

    def hold(_process: Process[str]) -> None:
        holds.append(("start", time.monotonic()))
        cancel_token().wait(LONG)
        holds.append(("stop", time.monotonic()))

    with Worqr(redis=server.url, prefix="refence", **TIGHT) as wq:
        wq.enqueue("conns", "c1")
        worker = wq.persistent_worker("conns", hold, concurrency=1)
        worker.start()
        try:
            wait_until(lambda: len(holds) == 1, LONG)
            gate.clear()  # every tick from now on hangs: the worker fences itself, registers again
            wait_until(lambda: len(holds) >= 3, LONG)  # and holds the task again, as a new incarnation
            assert [kind for kind, _ in holds[:3]] == ["start", "stop", "start"]
            wait_until(lambda: len(holds) >= 4, LONG)
            assert holds[3][1] - holds[2][1] < TIGHT["worker_timeout"]
        finally:
            gate.set()
            worker.stop(grace=0)
