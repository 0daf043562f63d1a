"""Calls (worqr.calls) with the threaded client, against a real server: the registry, typed
arguments and results, status, progress, unique keys, cancel, expiry, waiting across a
producer restart and a killed pub/sub connection, a zombie's late result, and bad input.
The asyncio client's calls are in tests/test_async_calls.py, Redis Cluster in
tests/cluster/test_calls_cluster.py, the chaos run in tests/scenarios/test_calls_chaos.py."""

from __future__ import annotations

import dataclasses
import enum
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis

from tests.helpers import wait_until
from tests.runtime_helpers import FAST, LONG, QUICK, QUIET, declare_dead
from worqr import (
    Call,
    CallCancelledError,
    CallFailedError,
    CallNotFoundError,
    CallTimeoutError,
    Functions,
    InvalidArgumentError,
    InvalidTaskTypeError,
    Worker,
    Worqr,
    WorqrError,
    cancel_token,
    current_call,
)
from worqr._protocol.keys import QueueKeys
from worqr.calls.serving import Invocation
from worqr.calls.status import CallStatus, Record
from worqr.calls.waiting import Heard

MakeWorqr = Callable[..., Worqr]
functions = Functions()
#: Gates a held function waits on, by name; each test uses names of its own.
GATES: dict[str, threading.Event] = {}
#: What held functions saw when they started, by name: (call id, attempt).
STARTED: dict[str, list[tuple[str, int]]] = {}


def gate(name: str) -> threading.Event:
    return GATES.setdefault(name, threading.Event())


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass(frozen=True)
class Address:
    city: str
    zip: str


@dataclasses.dataclass(frozen=True)
class Order:
    id: int
    color: Color
    placed: datetime
    ship_to: Address
    notes: list[str] | None = None


@functions.function(queue="math", max_attempts=2)
def add(a: int, b: int = 10) -> int:
    return a + b


@functions.function(queue="math")
def factorial(n: int) -> int:
    result = 1
    for i in range(2, n + 1):
        result *= i
    return result


@functions.function(queue="orders")
def ship(order: Order, *, express: bool = False) -> dict[str, Order]:
    moved = dataclasses.replace(order, notes=[*(order.notes or []), "express" if express else "ground"])
    return {"shipped": moved}


@functions.function(queue="math", max_attempts=3)
def flaky(fail_times: int) -> int:
    attempt = current_call().attempt
    if attempt <= fail_times:
        msg = f"attempt {attempt} failed"
        raise ValueError(msg)
    return attempt


@functions.function(queue="held", max_attempts=3)
def held(name: str) -> int:
    """Reports progress, then waits for its gate (or its cancel token); returns the attempt."""
    call = current_call()
    STARTED.setdefault(name, []).append((call.id, call.attempt))
    call.report_progress({"step": 1, "of": 2})
    token = cancel_token()
    deadline = time.monotonic() + LONG
    while not gate(name).wait(0.01):
        if time.monotonic() > deadline:
            break
        if name.startswith("obedient"):
            token.raise_if_cancelled()
    return call.attempt


@functions.function(queue="math", name="custom.name", timeout=0.2, max_attempts=1)
def sleepy() -> None:
    cancel_token().wait(LONG)


@functions.function(queue="math", max_attempts=1)
def wide(n: int) -> str:
    return "x" * n


@functions.function(queue="math", max_attempts=1)
def liar() -> int:
    return "not an int"  # type: ignore[return-value]


@functions.function(queue="math", result_ttl=0.3)
def short_lived() -> str:
    return "soon gone"


@functions.function(queue="math")
def untyped(a, b=None):  # type: ignore[no-untyped-def]
    return {"a": a, "b": b}


# Fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def serving(make_worqr: MakeWorqr) -> Iterator[Callable[..., Worker[Invocation]]]:
    """Start workers that serve ``functions`` (or another registry); all stopped after the test."""
    made: list[Worker[Invocation]] = []

    def serve(registry: Functions = functions, **options: Any) -> Worker[Invocation]:
        client_options = {**FAST, **options.pop("client", {})}
        worker = make_worqr(**client_options).serve(registry, **{"backoff": QUICK, "concurrency": 4, **options})
        worker.start()
        made.append(worker)
        return worker

    yield serve
    for worker in made:
        worker.stop()


@pytest.fixture
def producer(make_worqr: MakeWorqr) -> Worqr:
    return make_worqr(**FAST)


def calls_keys(raw: redis.Redis, client: Worqr) -> list[bytes]:
    return sorted(key for key in raw.scan_iter(match=f"*{client.prefix}*") if b":call" in key)


# The registry -------------------------------------------------------------------------------


def test_a_function_is_named_by_its_module_and_qualname_unless_named() -> None:
    assert add.name == "tests.test_calls.add"
    assert sleepy.name == "custom.name"
    assert functions.get("tests.test_calls.add") is add
    assert add.queue == "math"
    assert set(functions.queues) == {"math", "orders", "held"}
    assert add.options.max_attempts == 2
    assert factorial.options.result_ttl == 3600.0


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": "3"}, "max_attempts"),
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"result_ttl": 0}, "result_ttl"),
        ({"result_ttl": float("nan")}, "result_ttl"),
        ({"backoff": 5}, "backoff must be a worqr.Backoff"),
        ({"queue": ""}, "queue"),
        ({"name": "two\nlines"}, "function name"),
        ({"name": ""}, "function name"),
    ],
)
def test_invalid_options_are_refused_when_the_decorator_runs(options: dict[str, Any], words: str) -> None:
    registry = Functions()
    chosen = {"queue": "q", **options}

    def fn() -> None: ...

    with pytest.raises(InvalidArgumentError, match=words):
        registry.function(fn, **chosen)
    assert len(registry) == 0


def test_a_name_registered_twice_and_an_annotation_no_engine_carries_are_refused() -> None:
    registry = Functions()

    @registry.function(queue="q", name="twice")
    def first() -> None: ...

    with pytest.raises(InvalidArgumentError, match="registered already"):

        @registry.function(queue="q", name="twice")
        def second() -> None: ...

    with pytest.raises(InvalidTaskTypeError, match="parameter 'lock'"):

        @registry.function(queue="q")
        def locked(lock: threading.Lock) -> None: ...

    assert [f.name for f in registry] == ["twice"]


# Calling and results --------------------------------------------------------------------------


def test_a_call_returns_a_handle_with_a_time_sortable_id_and_its_result(
    producer: Worqr, serving: Callable[..., Worker[Invocation]]
) -> None:
    serving()
    first = producer.call(add, 2, 3)
    second = producer.call(add, 2)
    assert isinstance(first, Call)
    assert first.id < second.id and first.id.endswith(":math")
    assert first.result(timeout=LONG) == 5
    assert second.result(timeout=LONG) == 12
    assert producer.call(factorial, 20).result(timeout=LONG) == 2432902008176640000


def test_typed_arguments_and_results_are_rebuilt_from_the_annotations(
    producer: Worqr, serving: Callable[..., Worker[Invocation]]
) -> None:
    serving()
    placed = datetime(2026, 12, 6, 12, 30, tzinfo=timezone(timedelta(hours=1)))
    order = Order(7, Color.BLUE, placed, Address("Oslo", "0150"), notes=["fragile"])
    result = producer.call(ship, order, express=True).result(timeout=LONG)
    assert result == {"shipped": dataclasses.replace(order, notes=["fragile", "express"])}
    assert isinstance(result["shipped"].color, Color)
    assert result["shipped"].placed == placed
    assert producer.call(untyped, [1, "x"], b={"k": None}).result(timeout=LONG) == {"a": [1, "x"], "b": {"k": None}}


def test_the_status_follows_the_call_through_its_states(
    producer: Worqr, serving: Callable[..., Worker[Invocation]], raw: redis.Redis
) -> None:
    later = producer.call(add.with_options(delay=3600), 1, 1)
    assert later.status().state == "scheduled"
    queued = producer.call(held, "status")
    status = queued.status()
    assert (status.state, status.attempts, status.worker_id, status.started_at) == ("queued", 0, None, None)
    assert status.enqueued_at is not None and status.enqueued_at.tzinfo is timezone.utc
    serving()
    wait_until(lambda: queued.status().progress == {"step": 1, "of": 2})
    running = queued.status()
    assert (running.state, running.attempts) == ("running", 1)
    assert running.worker_id in producer.get_workers()
    assert running.started_at is not None and running.started_at >= status.enqueued_at
    gate("status").set()
    assert queued.result(timeout=LONG) == 1
    ended = queued.status()
    assert ended.state == "succeeded" and ended.finished_at is not None
    assert ended.finished_at >= running.started_at
    assert producer.get_call("00000000000000000000abcd:math").status().state == "unknown"


def test_a_failing_call_is_retried_with_its_own_max_attempts_then_fails_with_its_last_error(
    producer: Worqr, serving: Callable[..., Worker[Invocation]]
) -> None:
    serving(max_attempts=10)  # the function's max_attempts=3 wins
    assert producer.call(flaky, 2).result(timeout=LONG) == 3
    failing = producer.call(flaky, 5)
    with pytest.raises(CallFailedError) as caught:
        failing.result(timeout=LONG)
    error = caught.value
    assert (error.call_id, error.error_type, error.message, error.attempts) == (
        failing.id,
        "ValueError",
        "attempt 3 failed",
        3,
    )
    assert failing.status().state == "failed" and failing.status().attempts == 3
    assert producer.queue("math").count_dead_letters() == 1


def test_the_functions_timeout_wins_over_the_workers(
    producer: Worqr, serving: Callable[..., Worker[Invocation]]
) -> None:
    serving(timeout=60.0)
    with pytest.raises(CallFailedError) as caught:
        producer.call(sleepy).result(timeout=LONG)
    assert caught.value.error_type == "TimeoutError"
    assert "0.2 s" in caught.value.message


def test_a_result_that_does_not_fit_the_return_annotation_fails_the_attempt(
    producer: Worqr, serving: Callable[..., Worker[Invocation]]
) -> None:
    serving()
    with pytest.raises(CallFailedError) as caught:
        producer.call(liar).result(timeout=LONG)
    assert caught.value.error_type == "InvalidTaskTypeError"
    assert "does not fit its annotation" in caught.value.message


def test_a_result_expires_after_its_result_ttl_and_the_call_becomes_unknown(
    producer: Worqr, serving: Callable[..., Worker[Invocation]], raw: redis.Redis
) -> None:
    serving()
    call = producer.call(short_lived)
    assert call.result(timeout=LONG) == "soon gone"
    (record,) = calls_keys(raw, producer)[:1]
    assert 0 < raw.pttl(record) <= 300
    wait_until(lambda: call.status().state == "unknown", timeout=5)
    with pytest.raises(CallNotFoundError, match="unknown"):
        call.result(timeout=LONG)
    default = producer.call(add, 1)
    assert default.result(timeout=LONG) == 11
    assert 3_500_000 < raw.pttl(f"{{{producer.prefix}:math}}:call:{default.id}") <= 3_600_000


def test_a_unique_key_returns_the_live_call_and_is_free_once_it_ended(
    producer: Worqr, serving: Callable[..., Worker[Invocation]]
) -> None:
    keyed = held.with_options(key="report-42")
    first = producer.call(keyed, "unique")
    again = producer.call(keyed, "unique-other-arguments")
    assert again.id == first.id
    assert producer.queue("held").count() == 1
    serving()
    gate("unique").set()
    assert again.result(timeout=LONG) == 1
    gate("unique-later").set()
    fresh = producer.call(held.with_options(key="report-42"), "unique-later")
    assert fresh.id != first.id
    assert fresh.result(timeout=LONG) == 1


def test_call_at_runs_the_call_at_its_time(producer: Worqr, serving: Callable[..., Worker[Invocation]]) -> None:
    serving()
    at = datetime.now(timezone.utc) + timedelta(seconds=0.3)
    call = producer.call_at(at, add, 4, 4)
    assert call.status().state == "scheduled"
    assert call.result(timeout=LONG) == 8
    started_at = call.status().started_at
    assert started_at is not None
    assert started_at >= at - timedelta(milliseconds=20)  # server clock vs ours


# Cancel -------------------------------------------------------------------------------------


def test_cancel_of_a_queued_call_removes_it_so_it_never_runs(
    producer: Worqr, serving: Callable[..., Worker[Invocation]]
) -> None:
    call = producer.call(held, "cancel-queued")
    scheduled = producer.call(held.with_options(delay=3600), "cancel-scheduled")
    assert call.cancel() is True
    assert scheduled.cancel() is True
    assert producer.queue("held").count() == 0 and producer.queue("held").count_delayed() == 0
    for handle in (call, scheduled):
        assert handle.status().state == "cancelled"
        with pytest.raises(CallCancelledError):
            handle.result(timeout=LONG)
        assert handle.cancel() is False  # ended already
    serving()
    gate("after").set()
    assert producer.call(held, "after").result(timeout=LONG) == 1
    assert "cancel-queued" not in STARTED


def test_cancel_of_a_running_call_tells_its_handler(
    producer: Worqr, serving: Callable[..., Worker[Invocation]]
) -> None:
    serving()
    call = producer.call(held, "obedient-running")
    wait_until(lambda: call.status().state == "running")
    assert call.cancel() is True
    with pytest.raises(CallCancelledError):
        call.result(timeout=LONG)
    assert call.status().state == "cancelled"
    assert call.cancel() is False
    assert producer.get_call("00000000000000000000abcd:held").cancel() is False


# Waiting --------------------------------------------------------------------------------------


def test_a_producer_that_restarts_gets_the_result_by_id(
    make_worqr: MakeWorqr, serving: Callable[..., Worker[Invocation]]
) -> None:
    """The call's caller is gone when it ends; a new client finds it by id, and, waiting
    while it runs, hears its ending on the old caller's channel (no poll: 60 s)."""
    first = make_worqr(**QUIET)
    before = first.call(add, 20, 22)
    running = first.call(held, "restart")
    first.close()
    serving()
    second = make_worqr(**QUIET)
    assert second.get_call(before.id).result(timeout=LONG) == 42
    wait_until(lambda: second.get_call(running.id).status().state == "running")
    threading.Timer(0.2, gate("restart").set).start()
    assert second.get_call(running.id).result(timeout=LONG) == 1


def test_a_waiter_whose_pubsub_connection_is_killed_still_gets_the_result(
    make_worqr: MakeWorqr, serving: Callable[..., Worker[Invocation]], raw: redis.Redis
) -> None:
    producer = make_worqr(**QUIET)  # no poll within the test: only notices and resyncs end the wait
    serving()
    call = producer.call(held, "killed")
    wait_until(lambda: call.status().state == "running")
    outcome: list[object] = []
    waiter = threading.Thread(target=lambda: outcome.append(call.result(timeout=LONG)))
    waiter.start()
    notices = f"{{{producer.prefix}:held}}:calls:{producer.worker_id}"
    wait_until(lambda: dict(raw.pubsub_numsub(notices)).get(notices.encode(), 0) >= 1)
    killed = raw.client_kill_filter(_type="pubsub")
    assert killed >= 1
    gate("killed").set()  # likely ends while the listener reconnects: the notice is lost
    waiter.join(LONG)
    assert outcome == [1]


def test_a_result_wait_that_runs_out_leaves_the_call_alone(
    producer: Worqr, serving: Callable[..., Worker[Invocation]]
) -> None:
    serving()
    call = producer.call(held, "timeout")
    with pytest.raises(CallTimeoutError) as caught:
        call.result(timeout=0.2)
    assert isinstance(caught.value, TimeoutError) and caught.value.call_id == call.id
    gate("timeout").set()
    assert call.result(timeout=LONG) == 1


def test_gather_and_as_completed(producer: Worqr, serving: Callable[..., Worker[Invocation]]) -> None:
    serving()
    calls = [producer.call(add, i, i) for i in range(20)]
    assert producer.gather(calls, timeout=LONG) == [2 * i for i in range(20)]
    slow = producer.call(held, "gather-slow")
    quick = producer.call(add, 1, 1)
    order = []
    threading.Timer(0.3, gate("gather-slow").set).start()
    for done in producer.as_completed([slow, quick], timeout=LONG):
        order.append(done.id)
    assert order == [quick.id, slow.id]
    failing = producer.call(flaky, 9)
    with pytest.raises(CallFailedError):
        producer.gather([quick, failing], timeout=LONG)
    hanging = producer.call(held, "gather-hangs")
    with pytest.raises(CallTimeoutError):
        producer.gather([quick, hanging], timeout=0.2)
    with pytest.raises(CallTimeoutError):
        list(producer.as_completed([hanging], timeout=0.2))
    gate("gather-hangs").set()
    with pytest.raises(InvalidArgumentError, match="list of calls"):
        producer.gather(quick, timeout=1)  # type: ignore[arg-type]


def test_an_end_notice_carries_a_small_outcome_and_only_names_a_large_one(
    producer: Worqr, serving: Callable[..., Worker[Invocation]], raw: redis.Redis
) -> None:
    serving()
    pubsub = raw.pubsub()
    pubsub.subscribe(QueueKeys(producer.prefix, "math").notices(producer.worker_id))
    assert pubsub.get_message(timeout=LONG)["type"] == "subscribe"
    small, failing, large = producer.call(factorial, 5), producer.call(flaky, 9), producer.call(wide, 2000)
    assert (small.result(timeout=LONG), large.result(timeout=LONG)) == (120, "x" * 2000)
    with pytest.raises(CallFailedError, match="attempt 3 failed"):
        failing.result(timeout=LONG)
    heard: dict[str, bytes] = {}
    while len(heard) < 3:
        message = pubsub.get_message(timeout=LONG)
        assert message is not None, heard
        if message["type"] == "message":
            heard[message["data"].split(b"\n")[1].decode()] = message["data"]
    pubsub.close()
    assert heard[small.id] == f"call\n{small.id}\nsucceeded\n1\n{factorial.name}\n120".encode()
    assert heard[failing.id] == f"call\n{failing.id}\nfailed\n3\n{flaky.name}\nValueError\nattempt 3 failed".encode()
    assert heard[large.id] == f"call\n{large.id}\nsucceeded".encode()  # over 1 KiB: read the record


def test_a_waiter_of_its_own_call_reads_no_record_when_the_notice_tells_the_outcome(
    producer: Worqr, serving: Callable[..., Worker[Invocation]], raw: redis.Redis
) -> None:
    serving()
    assert producer.call(factorial, 3).result(timeout=LONG) == 6  # its notice channel is confirmed now

    def reads() -> int:
        stats: dict[str, Any] = raw.info("commandstats")
        return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))

    before = reads()
    assert [producer.call(factorial, n).result(timeout=LONG) for n in (4, 5, 6)] == [24, 120, 720]
    assert reads() == before
    large = producer.call(wide, 2000)
    assert large.result(timeout=LONG) == "x" * 2000
    assert reads() > before  # the notice only named it: the waiter read its record


def test_a_call_is_fresh_once_and_not_after_a_resync_or_an_unwatched_notice() -> None:
    heard = Heard()
    heard.placed("a", heard.resyncs)
    heard.placed("b", heard.resyncs)
    heard.placed("c", heard.resyncs)
    heard.hear("b\nsucceeded\n1\nf\n1")  # heard before anyone watched it: the wait must read
    heard.watch(["a", "b"])
    assert heard.fresh("a")
    assert not heard.fresh("a")  # once
    assert not heard.fresh("b")
    heard.hear("*\nresync")
    assert not heard.fresh("c")  # notices may have been lost meanwhile
    heard.hear("a\nfailed\n2\nf\nValueError\nno")
    assert heard.ended("a") == Record(
        CallStatus("failed", attempts=2), function="f", error_type="ValueError", error="no"
    )
    assert heard.ended("b") is None  # not watched when it was heard
    heard.unwatch(["a", "b"])
    assert heard.ended("a") is None


# One outcome ----------------------------------------------------------------------------------


def test_a_zombies_late_result_is_refused_and_the_call_keeps_one_outcome(
    make_worqr: MakeWorqr, producer: Worqr, raw: redis.Redis
) -> None:
    zombie_client = make_worqr(**FAST)
    zombie = zombie_client.serve(functions, backoff=QUICK, restart_on_loss=False)
    zombie.start()
    call = producer.call(held, "zombie")
    wait_until(lambda: call.status().state == "running")
    peer_client = make_worqr(**FAST)
    declare_dead(zombie_client, peer_client, raw)  # its call goes back to the queue
    assert call.status().state == "queued"
    peer = peer_client.serve(functions, backoff=QUICK)
    peer.start()
    wait_until(lambda: len(STARTED["zombie"]) == 2)
    gate("zombie").set()  # both return: the zombie's attempt 1, the peer's attempt 2
    assert call.result(timeout=LONG) == 2
    zombie.stop()
    peer.stop()
    status = call.status()
    assert (status.state, status.attempts, status.worker_id) == ("succeeded", 2, peer_client.worker_id)
    assert producer.get_call(call.id).result() == 2


def test_a_requeued_dead_letter_runs_again_but_the_call_stays_failed(
    producer: Worqr, serving: Callable[..., Worker[Invocation]]
) -> None:
    serving()
    call = producer.call(flaky, 3)  # fails its 3 attempts
    with pytest.raises(CallFailedError):
        call.result(timeout=LONG)
    assert producer.queue("math").requeue_dead_letters() == 1
    wait_until(lambda: producer.queue("math").count() == 0 and producer.queue("math").count_dead_letters() == 1)
    assert call.status().state == "failed"


# Bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        ((1, 2, 3), {}, InvalidArgumentError, "too many positional arguments"),
        ((), {}, InvalidArgumentError, "missing a required argument: 'a'"),
        ((1,), {"c": 2}, InvalidArgumentError, "unexpected keyword argument 'c'"),
        (("one",), {}, InvalidTaskTypeError, "argument 'a'"),
        ((1.5,), {}, InvalidTaskTypeError, "argument 'a'"),
        ((True,), {}, InvalidTaskTypeError, "argument 'a'"),
    ],
)
def test_arguments_that_do_not_fit_the_signature_are_refused_before_anything_is_written(  # noqa: PLR0917 (parametrized)
    producer: Worqr, raw: redis.Redis, args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        producer.call(add, *args, **kwargs)
    assert calls_keys(raw, producer) == []
    assert producer.queue("math").count() == 0


def test_unencodable_arguments_are_refused_before_anything_is_written(producer: Worqr, raw: redis.Redis) -> None:
    for bad in (object(), {1: "a non-str key"}, float("nan"), {"set": {1, 2}}):
        with pytest.raises(InvalidTaskTypeError):
            producer.call(untyped, bad)
    with pytest.raises(InvalidArgumentError, match=r"registered with @functions\.function"):
        producer.call(add.fn, 1, 2)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="not a call id"):
        producer.get_call("42:math")
    assert calls_keys(raw, producer) == []


def test_a_call_of_a_function_the_worker_does_not_serve_fails_at_once_with_a_clear_error(
    producer: Worqr, serving: Callable[..., Worker[Invocation]]
) -> None:
    elsewhere = Functions()

    @elsewhere.function(queue="math", name="tests.unknown")
    def unknown(n: int) -> int:
        return n

    call = producer.call(unknown, 1)
    producer.enqueue("math", "a plain task on a served queue")
    serving()
    with pytest.raises(CallFailedError) as caught:
        call.result(timeout=LONG)
    assert caught.value.error_type == "CodecError" and caught.value.attempts == 1
    assert "'tests.unknown', which this worker does not serve" in caught.value.message
    wait_until(lambda: producer.queue("math").count_dead_letters() == 2)
    assert producer.call(add, 1, 1).result(timeout=LONG) == 2  # nothing else harmed


def test_serve_refuses_a_registry_it_cannot_run_when_it_is_built(producer: Worqr) -> None:
    mixed = Functions()

    @mixed.function(queue="q")
    async def coroutine() -> None: ...

    with pytest.raises(InvalidArgumentError, match="coroutine"):
        producer.serve(mixed)
    with pytest.raises(InvalidArgumentError, match="holds no function"):
        producer.serve(Functions())
    with pytest.raises(InvalidArgumentError, match=r"worqr\.Functions"):
        producer.serve([add])


def test_current_call_outside_a_served_function_is_an_error() -> None:
    with pytest.raises(WorqrError, match="only known inside a function"):
        current_call()
