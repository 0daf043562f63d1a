"""Bad input and a hostile environment: each case gets a clear, specific error (or a
documented warning) and leaves nothing half-written.

Covered elsewhere, not repeated here: a Redis restart in the middle of operations and a
script flushed from the server's cache (NOSCRIPT, reloaded) are in tests/test_runner.py.
"""

from __future__ import annotations

import logging
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from tests.helpers import wait_until
from tests.redis_helpers import snapshot
from worqr import (
    AsyncWorqr,
    BytesCodec,
    CodecError,
    Event,
    InvalidNameError,
    InvalidTaskTypeError,
    JsonCodec,
    PayloadTooLargeError,
    Process,
    RedisCommandError,
    RedisUnavailableError,
    Worqr,
    WorqrError,
)
from worqr._protocol import ops, registry_ops
from worqr._protocol.call import Call
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr.testing import RedisServer

MakeWorqr = Callable[..., Worqr]


# Queue names ---------------------------------------------------------------------------------

BAD_NAMES: list[tuple[object, str]] = [
    ("", "must not be empty"),
    ("x" * 1025, "the limit is 1024"),
    ("nul\x00byte", "control character"),
    ("line\nbreak", "control character"),
    ("escape\x1b[31m", "control character"),
    ("delete\x7f", "control character"),
    ("next line\x85", "control character"),  # NEL, a C1 control
    ("csi\x9b31m", "control character"),  # the C1 control sequence introducer
    ("line\u2028separator", "control character"),
    ("paragraph\u2029separator", "control character"),
    ("lone \ud800 surrogate", "not valid Unicode"),
    (b"jobs", "must be a str"),
    (None, "must be a str"),
    (42, "must be a str"),
]


@pytest.mark.parametrize(("name", "message"), BAD_NAMES, ids=repr)
def test_a_bad_queue_name_is_refused_by_every_method_before_any_write(
    make_worqr: MakeWorqr, raw: redis.Redis, name: object, message: str
) -> None:
    wq = make_worqr()
    wq.start_worker()
    before = snapshot(raw, wq.prefix)
    calls: list[Callable[[Any], object]] = [
        lambda q: wq.enqueue(q, "task"),
        lambda q: wq.enqueue(q, ["a", "b"], unique=True, delay=5),
        wq.start_work,
        wq.dequeue,
        wq.count_queue,
        wq.get_tasks,
        wq.delete_queue,
        lambda q: wq.cancel_tasks(q, "task"),
        lambda q: wq.on(q, print),
        wq.queue,
        wq.get_dead_letters,
    ]
    for call in calls:
        with pytest.raises(InvalidNameError, match=message):
            call(name)
    assert snapshot(raw, wq.prefix) == before


@pytest.mark.parametrize(
    "name",
    [
        "{jobs}",
        "}{",
        "a:b:c",
        "100%",
        "%7B",
        "emoji 🦄 queue",
        "\U0001d518\U0001d52b\U0001d526 (non-BMP)",
        "ä" * 1024,
        "with space",
        "tab-less\u200bzero-width",
    ],
)
def test_an_odd_but_valid_queue_name_works_end_to_end(make_worqr: MakeWorqr, name: str) -> None:
    producer, worker = make_worqr(), make_worqr()
    events: list[Event] = []
    producer.on(name, events.append)
    worker.start_worker()
    worker.start_work(name)
    producer.enqueue(name, ["a", "b"])
    process = worker.dequeue(name)
    assert process is not None and process.queue == name and process.id.endswith(":" + name)
    worker.finish_process(process.id, "ok")
    assert producer.get_tasks(name) == ["b"]
    assert name in producer.get_queues()
    wait_until(lambda: any(e.type == "done" for e in events))
    assert {e.queue for e in events} == {name}
    assert producer.delete_queue(name) == 1
    assert name not in producer.get_queues()


# Payloads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "error", "message"),
    [
        (42, InvalidTaskTypeError, "must be a str"),
        (None, InvalidTaskTypeError, "must be a str"),
        (b"bytes", InvalidTaskTypeError, "must be a str"),
        ({"a": 1}, InvalidTaskTypeError, "must be a str"),
        ("", InvalidTaskTypeError, "must not be empty"),
        ("lone \udc80 surrogate", InvalidTaskTypeError, "not valid Unicode"),
        ("x" * 65, PayloadTooLargeError, "65 bytes is over the limit of 64"),
        ("é" * 33, PayloadTooLargeError, "66 bytes is over the limit of 64"),  # bytes, not characters
    ],
    ids=repr,
)
def test_a_bad_task_in_a_batch_is_refused_before_any_write(
    make_worqr: MakeWorqr, raw: redis.Redis, task: object, error: type[Exception], message: str
) -> None:
    wq = make_worqr(max_payload_size=64)
    wq.enqueue("jobs", "already there")
    before = snapshot(raw, wq.prefix)
    for call in (
        lambda: wq.enqueue("jobs", ["fine", "also fine", task]),  # type: ignore[list-item]
        lambda: wq.enqueue("jobs", ["fine", task], unique=True, delay=10),  # type: ignore[list-item]
        lambda: wq.cancel_tasks("jobs", task),  # type: ignore[arg-type]
        lambda: wq.get_matching_processes(task),  # type: ignore[arg-type]
    ):
        with pytest.raises(error, match=message):
            call()
    assert snapshot(raw, wq.prefix) == before


def test_a_payload_at_the_limit_is_accepted_and_one_byte_more_is_not(make_worqr: MakeWorqr) -> None:
    wq = make_worqr(max_payload_size=8)
    assert wq.enqueue("jobs", "12345678") == 1
    with pytest.raises(PayloadTooLargeError, match="store large data elsewhere"):
        wq.enqueue("jobs", "123456789")
    binary = wq.queue("blobs", BytesCodec())
    with pytest.raises(PayloadTooLargeError):
        binary.enqueue(b"\x00" * 9)
    with pytest.raises(PayloadTooLargeError):
        wq.queue("json", JsonCodec()).enqueue({"k": "long"})
    assert wq.get_tasks("jobs") == ["12345678"]
    assert wq.count_queue("blobs") == wq.count_queue("json") == 0


def test_empty_bytes_are_refused_and_non_utf8_bytes_are_kept_exactly(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    producer, worker = make_worqr(), make_worqr()
    blobs = producer.queue("blobs", BytesCodec())
    with pytest.raises(InvalidTaskTypeError, match="must not be empty"):
        blobs.enqueue(b"")
    with pytest.raises(InvalidTaskTypeError, match="must be bytes"):
        blobs.enqueue_many([b"ok", "text"])  # type: ignore[list-item]
    assert snapshot(raw, producer.prefix) == {}
    payload = b"\xff\xfe\x00 not utf-8 \x80"
    blobs.enqueue(payload)
    worker.start_worker()
    worker.start_work("blobs")
    with pytest.raises(CodecError, match="not UTF-8") as caught:
        worker.dequeue("blobs")  # the text face cannot decode it: the task is in a process
    assert caught.value.payload == payload and caught.value.process_id is not None
    worker.stop_process(caught.value.process_id)
    assert worker.queue("blobs", BytesCodec()).tasks() == [payload]


async def test_the_async_client_refuses_the_same_bad_input(redis_url: str, raw: redis.Redis) -> None:
    prefix = f"hostile-{uuid.uuid4().hex[:8]}"
    async with AsyncWorqr(redis=redis_url, prefix=prefix, max_payload_size=4) as wq:
        with pytest.raises(InvalidNameError, match="control character"):
            await wq.enqueue("a\tb", "task")
        with pytest.raises(InvalidTaskTypeError, match="must be a str"):
            await wq.enqueue("jobs", ["ok", 7])  # type: ignore[list-item]
        with pytest.raises(PayloadTooLargeError):
            await wq.enqueue("jobs", ["ok", "too long"])
    assert snapshot(raw, prefix) == {}


# Keys overwritten with the wrong type by someone else -----------------------------------------

#: Every worqr key, by name, and the value another program might have written over it.
CLOBBERED = [
    "queue", "unique", "workers", "seq", "process", "delayed", "attempts", "dead",
    "registry queues", "registry workers", "reaping", "heartbeat", "queues-of", "idle",
]  # fmt: skip


def _key(name: str, keys: QueueKeys, registry: RegistryKeys, worker_id: str) -> str:
    return {
        "queue": keys.pending, "unique": keys.unique, "workers": keys.workers, "seq": keys.seq,
        "process": keys.processes(worker_id), "delayed": keys.delayed, "attempts": keys.attempts,
        "dead": keys.dead, "registry queues": registry.queues, "registry workers": registry.workers,
        "reaping": registry.reaping, "heartbeat": registry.heartbeat(worker_id),
        "queues-of": registry.queues_of(worker_id), "idle": keys.idle,
    }[name]  # fmt: skip


@dataclass
class World:
    """A producer and a worker with a task in every state: queued, delayed, in a process, due
    for a retry, dead-lettered, and marked unique."""

    producer: Worqr
    worker: Worqr
    held: Process[str]
    keys: QueueKeys
    registry: RegistryKeys


@pytest.fixture
def world(make_worqr: MakeWorqr) -> World:
    producer = make_worqr()
    worker = make_worqr(heartbeat_interval=5.0, worker_timeout=30.0, cleanup_interval=3600.0)
    producer.enqueue("jobs", ["a", "b", "c", "d", "e"], unique=True)
    producer.enqueue("jobs", "later", delay=3600)
    worker.start_worker()
    worker.start_work("jobs")
    held, doomed, retried = worker.dequeue("jobs"), worker.dequeue("jobs"), worker.dequeue("jobs")
    assert held and doomed and retried
    worker.fail_process(doomed.id, "boom", max_attempts=1)  # a dead letter
    worker.fail_process(retried.id, "boom", max_attempts=3)  # an attempt count and a due retry
    return World(producer, worker, held, QueueKeys(producer.prefix, "jobs"), RegistryKeys(producer.prefix))


def clobber(raw: redis.Redis, world: World, name: str) -> str:
    """Overwrite worqr's key ``name`` with a value of another type, as a stray program might."""
    keys, registry, worker_id = world.keys, world.registry, world.worker.worker_id
    key = {
        "queue": keys.pending, "unique": keys.unique, "workers": keys.workers, "seq": keys.seq,
        "process": keys.processes(worker_id), "delayed": keys.delayed, "attempts": keys.attempts,
        "dead": keys.dead, "registry queues": registry.queues, "registry workers": registry.workers,
        "reaping": registry.reaping, "heartbeat": registry.heartbeat(worker_id),
        "queues-of": registry.queues_of(worker_id), "idle": keys.idle,
    }[name]  # fmt: skip
    was_string = raw.type(key) == b"string"
    raw.delete(key)
    if was_string:
        raw.rpush(key, "someone else's list")
    else:
        raw.set(key, "someone else's string")
    return key


def outcome(operation: Callable[[], object]) -> WorqrError | None:
    """The worqr error ``operation`` raised, or None."""
    try:
        operation()
    except WorqrError as exc:
        return exc
    return None


def every_call(world: World) -> list[Call[Any]]:
    """One call of every script and read worqr has, aimed at the world's keys."""
    keys, registry, worker_id = world.keys, world.registry, world.worker.worker_id
    seq = int(world.held.id.split(":")[0])
    incarnation = world.worker._session.state.incarnation
    return [
        ops.enqueue(keys, [b"f"], unique=True),
        ops.enqueue(keys, [b"h"], unique=False),
        ops.schedule(keys, [b"g"], unique=True, at_ms=None, in_ms=60_000),
        ops.dequeue(keys, worker_id, 1, incarnation),
        ops.finish(keys, worker_id, seq, "null", world.held.id),
        ops.stop(keys, worker_id, seq, world.held.id),
        ops.fail(keys, worker_id, seq, world.held.id, max_attempts=3, retry_in_ms=0, counted=True, error_type="E", message="m"),
        ops.cancel(keys, b"e"),
        ops.delete_queue(keys),
        ops.requeue_dead(keys, []),
        ops.purge_dead(keys, []),
        ops.join_queue(keys, worker_id, incarnation),
        ops.leave_queue(keys, worker_id, interrupted=True),
        ops.count(keys), ops.peek(keys), ops.tasks(keys), ops.processes(keys, worker_id),
        ops.count_delayed(keys), ops.count_dead(keys), ops.dead_letters(keys),
        registry_ops.members(registry.queues), registry_ops.members(registry.workers), registry_ops.members(registry.queues_of(worker_id)),
        registry_ops.add_queue(registry, "jobs"),
        registry_ops.remove_queue(registry, "jobs"),
        registry_ops.register_worker(registry, "newcomer", 1000, {"host": "h"}),
        registry_ops.heartbeat(registry, worker_id, 30_000),
        registry_ops.add_worker_queue(registry, worker_id, "other"),
        registry_ops.remove_worker_queue(registry, worker_id, "jobs"),
        registry_ops.declare_dead(registry, [worker_id], force=True),
        registry_ops.forget_worker(registry, worker_id, ["jobs"]),
    ]  # fmt: skip


@pytest.mark.parametrize("name", CLOBBERED)
def test_a_script_refusing_a_key_of_the_wrong_type_changes_nothing(world: World, raw: redis.Redis, name: str) -> None:
    key = clobber(raw, world, name)
    refused = []
    for call in every_call(world):
        before = snapshot(raw, world.producer.prefix)
        error = outcome(lambda: world.worker._runner.run([call]))  # noqa: B023 (called at once)
        if isinstance(error, RedisCommandError):  # other errors are refusals by status: no write either
            refused.append(call.script or call.command)
            assert key in str(error), error  # the error names the key
            assert snapshot(raw, world.producer.prefix) == before, f"{call.script} wrote before refusing"
    assert refused, f"no script or read noticed that {key} holds the wrong type"


def test_an_enqueue_refused_for_a_clobbered_queue_gives_back_the_idle_workers_it_popped(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    """Without unique, enqueue pops the idle workers to wake before it appends (the pop is its
    guard of the idle set); a queue of another type refuses the append, and the pop is undone:
    the idle set is as it was, members and scores, and nothing else changed."""
    workers = [make_worqr() for _ in range(3)]
    for worker in workers:
        worker.start_worker()
        worker.start_work("jobs")
        assert worker.dequeue("jobs") is None  # found nothing: idle on the queue
    keys = QueueKeys(workers[0].prefix, "jobs")
    idle_before = raw.zrange(keys.idle, 0, -1, withscores=True)
    assert len(idle_before) == 3
    raw.set(keys.pending, "someone else's string")
    before = snapshot(raw, workers[0].prefix)
    with pytest.raises(RedisCommandError, match=r"holds a string, not a list.*nothing was changed"):
        workers[0].enqueue("jobs", ["a", "b"])
    assert raw.zrange(keys.idle, 0, -1, withscores=True) == idle_before
    assert snapshot(raw, workers[0].prefix) == before


#: Operations that are one script (or one script pipelined behind ``add_queue``).
ONE_STEP = (
    "enqueue",
    "enqueue later",
    "dequeue",
    "finish",
    "stop",
    "fail",
    "cancel",
    "requeue dead letters",
    "purge dead letters",
)
#: Operations made of several steps in two hash slots (see docs/keys-and-scripts.md): a step
#: that fails leaves what the earlier steps did, which the design keeps harmless and resumable.
STEPWISE = ("start_work", "stop_work", "cleanup", "fail_worker", "delete")


def operations(world: World) -> dict[str, Callable[[], object]]:
    producer, worker, held = world.producer, world.worker, world.held
    return {
        "enqueue": lambda: producer.enqueue("jobs", ["f", "g"], unique=True),
        "enqueue later": lambda: producer.enqueue("jobs", "h", unique=True, delay=60),
        "dequeue": lambda: worker.dequeue("jobs"),
        "finish": lambda: worker.finish_process(held.id),
        "stop": lambda: worker.stop_process(held.id),
        "fail": lambda: worker.fail_process(held.id, "boom"),
        "cancel": lambda: producer.cancel_tasks("jobs", "e"),
        "requeue dead letters": lambda: producer.requeue_dead_letters("jobs"),
        "purge dead letters": lambda: producer.purge_dead_letters("jobs"),
        "reads": lambda: (
            producer.get_tasks("jobs"),
            producer.count_delayed("jobs"),
            producer.get_dead_letters("jobs"),
        ),
        "registry reads": lambda: (producer.get_queues(), producer.get_workers(), producer.get_matching_processes("a")),
        "start_work": lambda: worker.start_work("other"),
        "cleanup": producer.cleanup_workers,
        "stop_work": lambda: worker.stop_work("jobs"),
        "delete": lambda: producer.delete_queue("jobs"),
        "fail_worker": lambda: producer.fail_worker(worker.worker_id),
    }


@pytest.mark.parametrize("name", [n for n in CLOBBERED if n != "registry queues"])
def test_an_operation_meeting_a_key_of_the_wrong_type_names_it_and_one_step_ones_change_nothing(
    world: World, raw: redis.Redis, name: str
) -> None:
    key = clobber(raw, world, name)
    for label, operation in operations(world).items():
        before = snapshot(raw, world.producer.prefix)
        error = outcome(operation)  # other errors (ProcessLostError once an earlier one ended it) are fine
        if isinstance(error, RedisCommandError):
            assert key in str(error), f"{label}: {error}"
            if label in ONE_STEP:
                assert snapshot(raw, world.producer.prefix) == before, f"{label} changed something before failing"


def test_enqueue_with_a_clobbered_queue_registry_enqueues_once_and_warns(
    world: World, raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """The registry call follows the enqueue of a queue not listed yet; the tasks go in either
    way, so the call reports success (a retry would duplicate them) and warns about the registry."""
    clobber(raw, world, "registry queues")
    caplog.set_level(logging.WARNING, logger="worqr")
    assert world.producer.enqueue("fresh", ["f", "g"]) == 2
    assert world.producer.get_tasks("fresh") == ["f", "g"]
    assert "queue registry refused to list it" in caplog.text


def test_a_clobbered_registry_does_not_stop_the_heartbeat_and_reaper(
    make_worqr: MakeWorqr, raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="worqr")
    worker = make_worqr(heartbeat_interval=0.05, worker_timeout=5.0, cleanup_interval=0.1)
    worker.start_worker()
    registry = RegistryKeys(worker.prefix)
    raw.delete(registry.workers)
    raw.set(registry.workers, "clobbered")
    wait_until(lambda: "heartbeat or cleanup failed, will retry" in caplog.text)
    raw.delete(registry.workers)
    raw.sadd(registry.workers, worker.worker_id)
    raw.pexpire(registry.heartbeat(worker.worker_id), 1000)
    wait_until(lambda: raw.pttl(registry.heartbeat(worker.worker_id)) > 4000)  # still renewing
    assert worker._supervisor is not None and worker._supervisor.running


def test_a_clobbered_queue_does_not_stop_the_event_listener(
    make_worqr: MakeWorqr, raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="worqr")
    worker = make_worqr(poll_interval=0.05)
    events: list[Event] = []
    worker.on("jobs", events.append)
    worker.start_worker()
    worker.start_work("jobs")
    pending = QueueKeys(worker.prefix, "jobs").pending
    raw.set(pending, "clobbered")
    wait_until(lambda: "could not poll queues" in caplog.text)
    raw.delete(pending)
    worker.enqueue("jobs", "a")
    wait_until(lambda: any(e.type == "work" for e in events))


def test_a_clobbered_queue_does_not_stop_a_runtime_worker(
    make_worqr: MakeWorqr, raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="worqr")
    client = make_worqr(poll_interval=0.05)
    done: list[str] = []
    client.enqueue("jobs", "first")
    with client.worker("jobs", lambda process: done.append(process.task)) as runtime:
        wait_until(lambda: done == ["first"])
        pending = QueueKeys(client.prefix, "jobs").pending
        raw.set(pending, "clobbered")
        wait_until(
            lambda: any("could not take work" in r.getMessage() and pending in r.getMessage() for r in caplog.records)
        )
        assert runtime.running
        raw.delete(pending)
        client.enqueue("jobs", "second")
        wait_until(lambda: done == ["first", "second"])


# Redis unreachable at start-up -----------------------------------------------------------------


class HangUpServer:
    """A TCP listener that accepts and at once closes every connection, counting them: a
    Redis that is there but never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def hang_up() -> Iterator[HangUpServer]:
    server = HangUpServer()
    yield server
    server.close()


def _no_secret_anywhere(exc: BaseException, secret: str) -> None:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    assert secret not in text


def test_start_up_against_a_dead_endpoint_retries_a_bounded_number_of_times(hang_up: HangUpServer) -> None:
    url = f"redis://app-user:secret-pw@127.0.0.1:{hang_up.port}/0"
    with Worqr(redis=url) as wq:
        assert "secret-pw" not in repr(wq)
        with pytest.raises(RedisUnavailableError) as caught:
            wq.start_worker()
    assert 2 <= hang_up.accepted <= 7  # it retried, and gave up after the first attempt and at most 6 more
    message = str(caught.value)
    assert f"redis://127.0.0.1:{hang_up.port}/0" in message
    assert not caught.value.maybe_applied
    _no_secret_anywhere(caught.value, "secret-pw")


async def test_the_async_client_names_the_url_without_the_password(hang_up: HangUpServer) -> None:
    url = f"redis://app-user:secret-pw@127.0.0.1:{hang_up.port}/0"
    async with AsyncWorqr(redis=url) as wq:
        with pytest.raises(RedisUnavailableError) as caught:
            await wq.enqueue("jobs", "a")
    assert f"redis://127.0.0.1:{hang_up.port}/0" in str(caught.value)
    _no_secret_anywhere(caught.value, "secret-pw")


# Memory: maxmemory with noeviction, and eviction policies that can drop worqr's keys -----------


def fill(producer: Worqr, queue: str) -> tuple[int, WorqrError | None]:
    """Enqueue unique batches of 20 tasks of 1 kB until Redis refuses one; return how many
    tasks went in and the error."""
    accepted = 0
    for batch in range(10_000):
        tasks = [f"{batch}-{i}-" + "x" * 1000 for i in range(20)]
        error = outcome(lambda: producer.enqueue(queue, tasks, unique=True))  # noqa: B023 (called at once)
        if error is not None:
            return accepted, error
        accepted += len(tasks)
    return accepted, None


def test_at_maxmemory_enqueue_fails_cleanly_and_workers_still_drain() -> None:
    with RedisServer(extra_args=["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]) as server:
        raw = redis.Redis.from_url(server.url)
        with Worqr(redis=server.url, prefix="full") as producer, Worqr(redis=server.url, prefix="full") as worker:
            worker.start_worker()
            worker.start_work("jobs")
            accepted, error = fill(producer, "jobs")
            assert isinstance(error, RedisCommandError)
            assert "out of memory" in str(error) and "before it wrote anything" in str(error)
            # Nothing half-written: the queue and the unique markers hold the same, whole batches.
            assert accepted > 0 and accepted % 20 == 0
            assert producer.count_queue("jobs") == accepted == raw.scard(QueueKeys("full", "jobs").unique)
            with pytest.raises(RedisCommandError, match="out of memory"):
                Worqr(redis=server.url, prefix="full", worker_id="late").start_worker()
            assert "late" not in producer.get_workers()
            assert not raw.exists(RegistryKeys("full").heartbeat("late"))
            # Workers drain a full server: dequeue, finish and stop free memory, so they are allowed.
            drained = 0
            while True:
                process = worker.dequeue("jobs")
                assert process is not None
                worker.finish_process(process.id)
                drained += 1
                try:
                    producer.enqueue("jobs", "fits again")
                    break
                except RedisCommandError:
                    assert drained < accepted
            assert producer.count_queue("jobs") == accepted - drained + 1
        raw.close()


EVICTING = {
    "allkeys-lru": "evict worqr's queues",
    "allkeys-lfu": "evict worqr's queues",
    "allkeys-random": "evict worqr's queues",
    "volatile-lru": "heartbeat keys",
    "volatile-lfu": "heartbeat keys",
    "volatile-random": "heartbeat keys",
    "volatile-ttl": "heartbeat keys",
}


@pytest.fixture(scope="module")
def own_server() -> Iterator[RedisServer]:
    """A server of this module's own, whose settings the tests may change."""
    with RedisServer() as server:
        yield server


@pytest.mark.parametrize(("policy", "risk"), [*EVICTING.items(), ("noeviction", None)])
def test_start_worker_warns_when_the_eviction_policy_can_drop_worqr_keys(
    own_server: RedisServer, caplog: pytest.LogCaptureFixture, policy: str, risk: str | None
) -> None:
    admin = redis.Redis.from_url(own_server.url)
    admin.config_set("maxmemory-policy", policy)
    caplog.set_level(logging.WARNING, logger="worqr")
    with Worqr(redis=own_server.url, prefix=f"evict-{uuid.uuid4().hex[:8]}") as wq:
        wq.start_worker()
    warnings = [r.getMessage() for r in caplog.records if r.name == "worqr" and r.levelno == logging.WARNING]
    if risk is None:
        assert warnings == []
    else:
        assert len(warnings) == 1
        assert policy in warnings[0] and risk in warnings[0] and "noeviction" in warnings[0]
    admin.config_set("maxmemory-policy", "noeviction")
    admin.close()
