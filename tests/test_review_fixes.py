"""The review findings, each proved against real servers (and, for garbled replies, a real
misbehaving peer on a loopback socket): names with C1 controls or Unicode line separators,
integers past Python's int-to-str limit, mappings and sets given as batches, async handlers
given to the threaded worker, a database the server does not have, ``rediss://`` against a
plain server, replies that are not the Redis protocol, how a ``done`` event says the task
ended, events of tasks past Redis' pub/sub output limit, and the log line of a clean leave."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import queue as queue_module
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, BinaryIO, cast

import pytest
import redis
import redis.utils

from tests.async_runtime_helpers import eventually, held_until_cancelled
from tests.helpers import wait_until
from tests.redis_helpers import processes_key, snapshot
from tests.runtime_helpers import FAST, LONG, QUICK, held_until_told, settled
from worqr import (
    AsyncWorker,
    AsyncWorqr,
    BytesCodec,
    CodecError,
    Event,
    InvalidArgumentError,
    InvalidNameError,
    InvalidTaskTypeError,
    JsonCodec,
    Process,
    RedisCommandError,
    RedisUnavailableError,
    StrCodec,
    Worker,
    Worqr,
)
from worqr._protocol.checks import check_prefix, check_queue_name, check_worker_id
from worqr._protocol.events import EVENT_TASK_PREVIEW, parse_event
from worqr.testing import RedisServer

MakeWorqr = Callable[..., Worqr]
MakeAsyncWorqr = Callable[..., AsyncWorqr]
MB = 1024 * 1024


class Inbox:
    """A callback that collects events; ``next`` waits for the next one of a type."""

    def __init__(self) -> None:
        self.events: queue_module.Queue[Event] = queue_module.Queue()

    def __call__(self, event: Event) -> None:
        self.events.put(event)

    def next(self, type_: str, timeout: float = 10.0) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            if event.type == type_:
                return event

    async def anext(self, type_: str, timeout: float = 10.0) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get_nowait()
            except queue_module.Empty:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {type_} event within {timeout} s") from None
                await asyncio.sleep(0.01)
                continue
            if event.type == type_:
                return event


@pytest.fixture
def stopping() -> Iterator[list[Worker[Any]]]:
    workers: list[Worker[Any]] = []
    yield workers
    for worker in workers:
        worker.stop(grace=0)


@pytest.fixture
async def astopping() -> AsyncIterator[list[AsyncWorker[Any]]]:
    workers: list[AsyncWorker[Any]] = []
    yield workers
    for worker in workers:
        await worker.stop(grace=0)


# 1. C1 controls and Unicode line separators in names ---------------------------------------

REFUSED_CHARACTERS = ["\x80", "\x85", "\x9b", "\x9f", "\u2028", "\u2029"]


@pytest.mark.parametrize("bad", REFUSED_CHARACTERS, ids=repr)
def test_c1_controls_and_line_separators_are_refused_in_every_kind_of_name(bad: str) -> None:
    for check, kind in ((check_queue_name, "queue name"), (check_worker_id, "worker_id"), (check_prefix, "prefix")):
        with pytest.raises(InvalidNameError, match=f"{kind} .* contains the control character"):
            check(f"a{bad}b")


def test_the_first_printable_characters_past_the_controls_are_still_names() -> None:
    for good in ("\xa0", "\xa9", "é", "\u2027", "\u202a"):
        assert check_queue_name(f"a{good}b") == f"a{good}b"


@pytest.mark.parametrize("bad", ["\x85", "\u2028"], ids=repr)
def test_clients_refuse_such_worker_ids_prefixes_and_queues_before_any_write(
    redis_url: str, raw: redis.Redis, make_worqr: MakeWorqr, bad: str
) -> None:
    with pytest.raises(InvalidNameError, match="control character"):
        Worqr(redis=redis_url, worker_id=f"w{bad}1")
    with pytest.raises(InvalidNameError, match="control character"):
        Worqr(redis=redis_url, prefix=f"app{bad}")
    wq = make_worqr()
    wq.start_worker()
    before = snapshot(raw, wq.prefix)
    with pytest.raises(InvalidNameError, match="control character"):
        wq.enqueue(f"jobs{bad}", "task")
    with pytest.raises(InvalidNameError, match="control character"):
        wq.start_work(f"jobs{bad}")
    assert snapshot(raw, wq.prefix) == before


async def test_the_async_client_refuses_them_too(
    redis_url: str, raw: redis.Redis, make_async_worqr: MakeAsyncWorqr
) -> None:
    with pytest.raises(InvalidNameError, match="control character"):
        AsyncWorqr(redis=redis_url, worker_id="w\x85")
    with pytest.raises(InvalidNameError, match="control character"):
        AsyncWorqr(redis=redis_url, prefix="app\u2029")
    wq = make_async_worqr()
    with pytest.raises(InvalidNameError, match="control character"):
        await wq.enqueue("jobs\u2028", "task")
    assert snapshot(raw, wq.prefix) == {}


# 2. Integers past Python's int-to-str limit -------------------------------------------------

HUGE = 10**5000  # 5001 digits: over the default limit of 4300


def test_json_encoding_a_huge_int_is_a_clear_invalid_task_type_error(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    codec: JsonCodec[Any] = JsonCodec()
    for task in (HUGE, {"n": HUGE}, [1, [HUGE]]):
        with pytest.raises(InvalidTaskTypeError, match="integer of more than 4300 digits") as caught:
            codec.encode(task)
        assert "as a string" in str(caught.value)
    wq = make_worqr()
    with pytest.raises(InvalidTaskTypeError, match="4300 digits"):
        wq.queue("numbers", JsonCodec()).enqueue({"n": HUGE})
    with pytest.raises(InvalidTaskTypeError, match="must be a str, got int: <int too large to show>"):
        StrCodec().encode(HUGE)  # type: ignore[arg-type]  # its message names the value: no repr crash
    assert snapshot(raw, wq.prefix) == {}


def test_a_stored_payload_with_a_huge_int_decodes_to_a_codec_error(make_worqr: MakeWorqr) -> None:
    wq = make_worqr()
    wq.queue("numbers", BytesCodec()).enqueue(b'{"n": ' + b"9" * 5000 + b"}")
    numbers = wq.queue("numbers", JsonCodec())
    with pytest.raises(CodecError, match="4300 digits"):
        numbers.peek()
    wq.start_worker()
    wq.start_work("numbers")
    with pytest.raises(CodecError, match="4300 digits") as caught:
        numbers.dequeue()
    assert caught.value.process_id is not None


def test_finishing_with_a_huge_int_result_is_refused_and_the_process_kept(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    wq = make_worqr()
    wq.start_worker()
    wq.start_work("jobs")
    wq.enqueue("jobs", "a")
    process = wq.dequeue("jobs")
    assert process is not None
    with pytest.raises(InvalidTaskTypeError, match=r"result .* cannot be encoded as JSON .*4300 digits"):
        wq.finish_process(process.id, {"n": HUGE})
    assert raw.hlen(processes_key(wq)) == 1
    wq.finish_process(process.id, "fine")


def test_a_handler_returning_a_huge_int_fails_its_attempt_clearly(
    make_worqr: MakeWorqr, stopping: list[Worker[Any]]
) -> None:
    wq, client = make_worqr(**FAST), make_worqr(**FAST)
    worker = client.worker("jobs", lambda _: HUGE, max_attempts=1, backoff=QUICK)
    stopping.append(worker)
    worker.start()
    wq.enqueue("jobs", "a")
    settled(worker, failed=1, dead_lettered=1)
    (letter,) = wq.get_dead_letters("jobs")
    assert letter.error_type == "InvalidTaskTypeError"
    assert "4300 digits" in letter.error
    assert worker.running


async def test_an_async_handler_returning_a_huge_int_fails_its_attempt_clearly(
    make_async_worqr: MakeAsyncWorqr, astopping: list[AsyncWorker[Any]]
) -> None:
    wq, client = make_async_worqr(**FAST), make_async_worqr(**FAST)

    async def handle(process: Process[str]) -> int:
        return HUGE

    worker = client.worker("jobs", handle, max_attempts=1, backoff=QUICK)
    astopping.append(worker)
    await worker.start()
    await wq.enqueue("jobs", "a")
    await eventually(lambda: worker.stats.dead_lettered == 1)
    (letter,) = await wq.get_dead_letters("jobs")
    assert (letter.error_type, "4300 digits" in letter.error) == ("InvalidTaskTypeError", True)


# 3. Mappings and sets are not batches -----------------------------------------------------

UNORDERED: list[object] = [{"a": 1}, {"a", "b"}, frozenset({"a"}), {"a": 1}.keys(), {"a": 1}.values(), {"a": 1}.items()]


@pytest.mark.parametrize("batch", UNORDERED, ids=lambda b: type(b).__name__)
def test_a_mapping_or_a_set_is_refused_as_a_batch_before_any_write(
    make_worqr: MakeWorqr, raw: redis.Redis, batch: object
) -> None:
    wq = make_worqr()
    blob_batch = {b"a": 1} if isinstance(batch, dict) else {b"a"}
    attempts: list[tuple[Callable[[Any], object], object]] = [
        (lambda t: wq.enqueue("jobs", t), batch),
        (lambda t: wq.queue("jobs", StrCodec()).enqueue(t), batch),
        (lambda t: wq.queue("jobs", StrCodec()).enqueue_many(t), batch),
        (lambda t: wq.queue("blobs", BytesCodec()).enqueue(t), blob_batch),
        (lambda t: wq.queue("json", JsonCodec()).enqueue_many(t), batch),
    ]
    for enqueue, tasks in attempts:
        with pytest.raises(InvalidTaskTypeError, match="must be an ordered sequence") as caught:
            enqueue(tasks)
        assert type(tasks).__name__ in str(caught.value)
    assert snapshot(raw, wq.prefix) == {}
    assert wq.enqueue("jobs", ("a", "b")) == 2  # ordered iterables stay batches
    assert wq.enqueue("jobs", (t for t in ["c"])) == 1
    assert wq.queue("json", JsonCodec()).enqueue({"a": 1}) == 1  # a JSON object is one task
    assert wq.get_tasks("jobs") == ["a", "b", "c"]


def test_a_set_batch_says_why_its_order_matters(make_worqr: MakeWorqr) -> None:
    with pytest.raises(InvalidTaskTypeError, match="order is arbitrary"):
        make_worqr().enqueue("jobs", {"a", "b"})


async def test_the_async_client_refuses_mapping_and_set_batches(
    make_async_worqr: MakeAsyncWorqr, raw: redis.Redis
) -> None:
    wq = make_async_worqr()
    with pytest.raises(InvalidTaskTypeError, match="ordered sequence"):
        await wq.enqueue("jobs", {"a": 1})
    with pytest.raises(InvalidTaskTypeError, match="ordered sequence"):
        await wq.queue("jobs", StrCodec()).enqueue({"a", "b"})
    with pytest.raises(InvalidTaskTypeError, match="ordered sequence"):
        await wq.queue("blobs", BytesCodec()).enqueue_many(frozenset({b"a"}))
    assert snapshot(raw, wq.prefix) == {}


# 4. Async handlers are refused by the threaded worker --------------------------------------


class AsyncCallable:
    async def __call__(self, process: Process[str]) -> str:
        return process.task


async def _async_handler(process: Process[str]) -> None:
    return None


def test_the_threaded_worker_refuses_an_async_handler_when_built(make_worqr: MakeWorqr) -> None:
    wq = make_worqr()
    handlers: list[Any] = [_async_handler, AsyncCallable(), functools.partial(_async_handler)]
    for handler in handlers:
        with pytest.raises(InvalidArgumentError, match=r"use AsyncWorqr\.worker for an async handler") as caught:
            wq.worker("jobs", handler)
        assert "handler must be a plain function" in str(caught.value)
        with pytest.raises(InvalidArgumentError, match=r"AsyncWorqr\.worker"):
            wq.persistent_worker("jobs", handler)
    with pytest.raises(InvalidArgumentError, match="handler must be callable"):
        wq.worker("jobs", cast("Any", "not a function"))
    assert wq.worker("jobs", lambda _: None) is not None


async def test_the_asyncio_worker_still_refuses_a_blocking_handler(make_async_worqr: MakeAsyncWorqr) -> None:
    wq = make_async_worqr()
    with pytest.raises(InvalidArgumentError, match="handler must be an async function"):
        wq.worker("jobs", lambda _: None)  # type: ignore[arg-type, return-value]
    assert wq.worker("jobs", AsyncCallable()) is not None


# 5. A database the server does not have --------------------------------------------------


@pytest.fixture(scope="module")
def four_databases() -> Iterator[RedisServer]:
    """A private server with 4 databases and a password, and a user that may not run CONFIG."""
    with RedisServer(extra_args=["--databases", "4", "--requirepass", "s3cret-pw"]) as server:
        admin: Any = redis.Redis(port=server.port, password="s3cret-pw")  # noqa: S106 (a test server's)
        admin.execute_command("ACL", "SETUSER", "no-config", "on", ">other-pw", "~*", "&*", "+@all", "-config")
        admin.close()
        yield server


def test_a_database_the_server_does_not_have_is_named_on_first_use(four_databases: RedisServer) -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{four_databases.port}/9"
    with Worqr(redis=url) as wq, pytest.raises(RedisCommandError) as caught:
        wq.enqueue("jobs", "a")
    message = str(caught.value)
    assert "has no database 9: it has 4 (0 to 3" in message
    assert "s3cret-pw" not in message
    with Worqr(redis=url.replace("/9", "/3")) as ok:  # the last one it has
        assert ok.enqueue("jobs", "a") == 1


def test_without_config_the_message_still_says_the_server_has_fewer(four_databases: RedisServer) -> None:
    url = f"redis://no-config:other-pw@127.0.0.1:{four_databases.port}/9"
    with Worqr(redis=url) as wq, pytest.raises(RedisCommandError, match="has no database 9") as caught:
        wq.count_queue("jobs")
    assert "fewer" in str(caught.value)
    assert "other-pw" not in str(caught.value)


async def test_the_async_client_names_the_missing_database_too(four_databases: RedisServer) -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{four_databases.port}/12"
    async with AsyncWorqr(redis=url) as wq:
        with pytest.raises(RedisCommandError, match="has no database 12: it has 4") as caught:
            await wq.count_queue("jobs")
    assert "s3cret-pw" not in str(caught.value)


# 6. rediss:// against a server without TLS -------------------------------------------------


def test_rediss_against_a_plain_server_fails_fast_and_says_tls_was_refused(redis_url: str) -> None:
    port = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs["port"]
    started = time.monotonic()
    with Worqr(redis=f"rediss://127.0.0.1:{port}/0") as wq, pytest.raises(RedisUnavailableError) as caught:
        wq.count_queue("jobs")
    elapsed = time.monotonic() - started
    assert elapsed < 8.0, f"took {elapsed:.1f} s"  # was ~15 s: three 5 s handshakes
    assert "speak TLS" in str(caught.value)
    assert not caught.value.maybe_applied


async def test_the_async_client_fails_as_fast_on_rediss_against_a_plain_server(redis_url: str) -> None:
    port = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs["port"]
    started = time.monotonic()
    async with AsyncWorqr(redis=f"rediss://127.0.0.1:{port}/0?socket_connect_timeout=2") as wq:
        with pytest.raises(RedisUnavailableError, match="speak TLS"):
            await wq.enqueue("jobs", "a")
    elapsed = time.monotonic() - started
    assert elapsed < 4.0, f"took {elapsed:.1f} s"  # was ~12 s: the handshake retried till the policy gave up


# 7. Replies that are not the Redis protocol ------------------------------------------------


def _read_command(reader: BinaryIO) -> list[bytes] | None:
    """One command in Redis' request format (an array of bulk strings), or None at EOF."""
    line = reader.readline()
    if not line:
        return None
    if not line.startswith(b"*"):
        return line.split()
    args = []
    for _ in range(int(line[1:])):
        size = int(reader.readline()[1:])
        args.append(reader.read(size + 2)[:-2])
    return args


class MisbehavingPeer:
    """A TCP server on a free loopback port that reads Redis requests and answers garbage
    (an HTTP error line): to everything, or (``setup_ok``) only after answering the
    connection's setup (HELLO refused, as by an old server; CLIENT SETINFO accepted), so
    that the garbage meets a batch that was sent."""

    GARBAGE = b"HTTP/1.1 400 Bad Request\r\n\r\n"

    def __init__(self, *, setup_ok: bool) -> None:
        self.setup_ok = setup_ok
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self.commands: list[bytes] = []
        self.closed = threading.Event()  # a client closed its connection
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            try:
                while (command := _read_command(cast("BinaryIO", reader))) is not None:
                    name = command[0].upper()
                    self.commands.append(name)
                    conn.sendall(self._reply(name))
            except OSError:
                pass
        self.closed.set()

    def _reply(self, name: bytes) -> bytes:
        if not self.setup_ok:
            return self.GARBAGE
        if name == b"HELLO":  # as an old server would: redis-py then speaks RESP2
            return b"-ERR unknown command 'HELLO'\r\n"
        return b"+OK\r\n" if name == b"CLIENT" else self.GARBAGE

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept
        self.sock.close()


@pytest.fixture
def garbage_at_once() -> Iterator[MisbehavingPeer]:
    peer = MisbehavingPeer(setup_ok=False)
    yield peer
    peer.close()


@pytest.fixture
def garbage_after_setup() -> Iterator[MisbehavingPeer]:
    peer = MisbehavingPeer(setup_ok=True)
    yield peer
    peer.close()


def test_garbage_during_the_connection_setup_is_a_clear_unavailable_error(garbage_at_once: MisbehavingPeer) -> None:
    with Worqr(redis=garbage_at_once.url) as wq, pytest.raises(RedisUnavailableError) as caught:
        wq.enqueue("jobs", "a")
    assert "not the Redis protocol" in str(caught.value)
    # What it answered, as the parser quotes it: the pure-Python parser the line, hiredis its first byte.
    assert ('got "H"' if redis.utils.HIREDIS_AVAILABLE else "HTTP/1.1 400") in str(caught.value)
    assert not caught.value.maybe_applied  # the batch was never sent
    assert garbage_at_once.connections == 1  # not retried
    assert garbage_at_once.closed.wait(LONG)


def test_garbage_in_reply_to_a_state_change_drops_the_connection_and_says_maybe_applied(
    garbage_after_setup: MisbehavingPeer,
) -> None:
    with Worqr(redis=garbage_after_setup.url) as wq:
        with pytest.raises(RedisUnavailableError, match="not the Redis protocol") as caught:
            wq.enqueue("jobs", "a")
        assert caught.value.maybe_applied  # the script was sent
        assert b"EVALSHA" in garbage_after_setup.commands
        assert garbage_after_setup.closed.wait(LONG)  # the connection was dropped
        assert garbage_after_setup.connections == 1  # and not retried


def test_garbage_in_reply_to_a_read_is_not_maybe_applied(garbage_after_setup: MisbehavingPeer) -> None:
    with Worqr(redis=garbage_after_setup.url) as wq:
        with pytest.raises(RedisUnavailableError, match="not the Redis protocol") as caught:
            wq.count_queue("jobs")
        assert not caught.value.maybe_applied  # a read changes nothing
        assert garbage_after_setup.closed.wait(LONG)


async def test_the_async_client_maps_garbage_the_same_way(
    garbage_at_once: MisbehavingPeer, garbage_after_setup: MisbehavingPeer
) -> None:
    async with AsyncWorqr(redis=garbage_at_once.url) as wq:
        with pytest.raises(RedisUnavailableError, match="not the Redis protocol") as caught:
            await wq.enqueue("jobs", "a")
        assert not caught.value.maybe_applied
    async with AsyncWorqr(redis=garbage_after_setup.url) as wq:
        with pytest.raises(RedisUnavailableError, match="not the Redis protocol") as caught:
            await wq.enqueue("jobs", "a")
        assert caught.value.maybe_applied
        assert await asyncio.to_thread(garbage_after_setup.closed.wait, LONG)  # the loop closes the socket
        assert garbage_after_setup.connections == 1


# 8. A done event says how the task ended ---------------------------------------------------


def test_done_events_say_succeeded_or_cancelled(make_worqr: MakeWorqr, stopping: list[Worker[Any]]) -> None:
    wq, client = make_worqr(**FAST), make_worqr(**FAST)
    inbox = Inbox()
    wq.on("jobs", inbox)
    worker = client.worker("jobs", lambda p: held_until_told(p) if p.task == "long" else "ok", concurrency=2)
    stopping.append(worker)
    worker.start()
    wq.enqueue("jobs", "quick")
    quick = json.loads(inbox.next("done").message)
    assert (quick["task"], quick["result"], quick["outcome"]) == ("quick", "ok", "succeeded")
    wq.enqueue("jobs", "long")
    wait_until(lambda: worker.stats.in_flight == 1)
    wq.cancel_tasks("jobs", "long")
    cancelled = json.loads(inbox.next("done").message)
    assert (cancelled["task"], cancelled["result"], cancelled["outcome"]) == ("long", None, "cancelled")


async def test_async_done_events_say_succeeded_or_cancelled(
    make_async_worqr: MakeAsyncWorqr, astopping: list[AsyncWorker[Any]]
) -> None:
    wq, client = make_async_worqr(**FAST), make_async_worqr(**FAST)
    inbox = Inbox()
    await wq.on("jobs", inbox)

    async def handle(process: Process[str]) -> object:
        return await held_until_cancelled(process) if process.task == "long" else "ok"

    worker = client.worker("jobs", handle, concurrency=2)
    astopping.append(worker)
    await worker.start()
    await wq.enqueue("jobs", "quick")
    assert json.loads((await inbox.anext("done")).message)["outcome"] == "succeeded"
    await wq.enqueue("jobs", "long")
    await eventually(lambda: worker.stats.in_flight == 1)
    await wq.cancel_tasks("jobs", "long")
    message = json.loads((await inbox.anext("done")).message)
    assert (message["task"], message["result"], message["outcome"]) == ("long", None, "cancelled")


def test_finish_process_keeps_its_signature_and_reports_succeeded(make_worqr: MakeWorqr) -> None:
    assert list(inspect.signature(Worqr.finish_process).parameters) == ["self", "process_id", "result"]
    wq = make_worqr()
    inbox = Inbox()
    wq.on("jobs", inbox)
    wq.start_worker()
    wq.start_work("jobs")
    wq.enqueue("jobs", "a")
    process = wq.dequeue("jobs")
    assert process is not None
    wq.finish_process(process.id, None)
    assert json.loads(inbox.next("done").message)["outcome"] == "succeeded"


def test_an_older_done_message_without_an_outcome_reads_as_succeeded() -> None:
    event = parse_event("jobs", b'done\nw1\n7\n{"ok":true}\nline one\nline two')
    assert event is not None
    assert json.loads(event.message) == {
        "worker_id": "w1",
        "process_id": "7:jobs",
        "task": "line one\nline two",
        "result": {"ok": True},
        "outcome": "succeeded",
    }
    assert parse_event("jobs", b"done\nw1\n7\ncancelled\n5\nnull\nhello") is not None
    assert json.loads(parse_event("jobs", b"done\nw1\n7\ncancelled\n5\nnull\nhello").message)["outcome"] == "cancelled"  # type: ignore[union-attr]


# 9. Events of tasks past Redis' pub/sub output limit ---------------------------------------

BIG = "a" + "é" * (20 * MB)  # 40 MB of UTF-8: over the 32 MB pub/sub limit; the 4 KiB cut splits an "é"


def _pubsub_ids(raw: redis.Redis) -> set[int]:
    return {int(client["id"]) for client in raw.client_list(_type="pubsub")}


def test_a_done_event_of_a_40_mb_task_carries_a_preview_and_the_listener_stays(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    listener, worker = make_worqr(), make_worqr(max_payload_size=64 * MB)
    inbox = Inbox()
    listener.on("big", inbox)
    subscribed = _pubsub_ids(raw)
    worker.start_worker()
    worker.start_work("big")
    worker.enqueue("big", BIG)
    process = worker.dequeue("big")
    assert process is not None and process.task == BIG
    worker.finish_process(process.id, {"n": 1})
    message = json.loads(inbox.next("done").message)
    size = len(BIG.encode("utf-8"))
    assert (message["task_size"], message["task_truncated"], message["result"]) == (size, True, {"n": 1})
    assert message["task"] == BIG[:2048]  # 4096 bytes, less the first byte of a cut "é"
    assert len(message["task"].encode("utf-8")) <= EVENT_TASK_PREVIEW
    assert subscribed <= _pubsub_ids(raw)  # no subscriber was cut off
    worker.enqueue("big", "small")  # and a small done event says nothing of truncation
    small = worker.dequeue("big")
    assert small is not None
    worker.finish_process(small.id)
    assert "task_truncated" not in json.loads(inbox.next("done").message)


def test_a_cancel_of_a_40_mb_running_task_reaches_its_handler(
    make_worqr: MakeWorqr, stopping: list[Worker[Any]]
) -> None:
    producer, client = make_worqr(max_payload_size=64 * MB, **FAST), make_worqr(max_payload_size=64 * MB, **FAST)
    reasons: list[str | None] = []
    worker = client.worker("big", lambda p: reasons.append(held_until_told(p)))
    stopping.append(worker)
    worker.start()
    producer.enqueue("big", BIG)
    wait_until(lambda: worker.stats.in_flight == 1)
    producer.cancel_tasks("big", BIG)
    wait_until(lambda: worker.stats.cancelled == 1, timeout=LONG)
    assert reasons == ["cancelled"]


def test_a_cancel_by_digest_names_only_its_own_payload(make_worqr: MakeWorqr, stopping: list[Worker[Any]]) -> None:
    """Two running payloads over the bound, of one size and one preview, differ in their last
    byte: the cancel event names one by its SHA1, and only that one is told."""
    producer, client = make_worqr(**FAST), make_worqr(**FAST)
    first, second = "x" * 20_000 + "1", "x" * 20_000 + "2"
    inbox = Inbox()
    producer.on("twins", inbox)
    told: dict[str, str | None] = {}
    worker = client.worker("twins", lambda p: told.setdefault(p.task[-1], held_until_told(p)), concurrency=2)
    stopping.append(worker)
    worker.start()
    producer.enqueue("twins", [first, second])
    wait_until(lambda: worker.stats.in_flight == 2)
    producer.cancel_tasks("twins", second)
    event = inbox.next("cancel")
    assert len(event.message) == EVENT_TASK_PREVIEW  # a preview, not the payload
    wait_until(lambda: worker.stats.cancelled == 1)
    assert told == {"2": "cancelled"}
    producer.cancel_tasks("twins", first)
    wait_until(lambda: worker.stats.cancelled == 2)
    assert told == {"1": "cancelled", "2": "cancelled"}


async def test_an_async_cancel_of_a_40_mb_running_task_reaches_its_handler(
    make_async_worqr: MakeAsyncWorqr, astopping: list[AsyncWorker[Any]]
) -> None:
    producer = make_async_worqr(max_payload_size=64 * MB, **FAST)
    # One event loop moves 40 MB several times (enqueue, dequeue, decode, cancel): a worker
    # timeout of FAST's 1 s can run out while it does, and a worker that cannot confirm its
    # heartbeat stops its handlers, which is not what this test is about.
    client = make_async_worqr(max_payload_size=64 * MB, **{**FAST, "worker_timeout": 5.0})
    reasons: list[str | None] = []

    async def handle(process: Process[str]) -> None:
        reasons.append(await held_until_cancelled(process))

    worker = client.worker("big", handle)
    astopping.append(worker)
    await worker.start()
    await producer.enqueue("big", BIG)
    # 40 MB each way takes a while on a busy machine: 3 * LONG to fail, not to wait.
    await eventually(lambda: worker.stats.in_flight == 1, timeout=3 * LONG)
    await producer.cancel_tasks("big", BIG)
    await eventually(lambda: worker.stats.cancelled == 1, timeout=3 * LONG)
    assert reasons == ["cancelled"]


# 10. A clean leave logs as a leave -------------------------------------------------------


def test_a_clean_close_logs_a_leave_and_a_real_reap_keeps_its_wording(
    make_worqr: MakeWorqr, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="worqr")
    leaver, victim, peer = make_worqr(), make_worqr(), make_worqr()
    for client in (leaver, victim):
        client.start_worker()
        client.start_work("jobs")
        client.enqueue("jobs", "held")
        assert client.dequeue("jobs") is not None
    leaver.close()
    leaves = [r for r in caplog.records if r.getMessage().startswith(f"worker {leaver.worker_id} left")]
    assert [(r.levelno, r.getMessage()) for r in leaves] == [
        (logging.INFO, f"worker {leaver.worker_id} left: gave back 1 task(s) on ['jobs']")
    ]
    assert not [r for r in caplog.records if "reaped worker" in r.getMessage()]
    peer.fail_worker(victim.worker_id)
    (reap,) = [r for r in caplog.records if "reaped worker" in r.getMessage()]
    assert (reap.levelno, reap.getMessage()) == (
        logging.WARNING,
        f"reaped worker {victim.worker_id}: requeued 1 task(s) on ['jobs']",
    )


async def test_a_clean_async_close_logs_a_leave(
    make_async_worqr: MakeAsyncWorqr, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="worqr")
    wq = make_async_worqr()
    await wq.start_worker()
    await wq.start_work("jobs")
    await wq.close()
    messages = [r.getMessage() for r in caplog.records]
    assert f"worker {wq.worker_id} left: gave back 0 task(s) on ['jobs']" in messages
    assert not [m for m in messages if "reaped worker" in m]
