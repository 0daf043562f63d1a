"""Fuzzing names and payloads with hypothesis: any input is either refused with a specific
error before anything is written, or works end to end and comes back exactly as it went in.
Each property states, independently of worqr's code, which inputs are valid."""

from __future__ import annotations

import base64
import itertools
import json
import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from tests.helpers import wait_until
from tests.redis_helpers import snapshot
from worqr import (
    BytesCodec,
    DuplicateTaskError,
    Event,
    InvalidArgumentError,
    InvalidNameError,
    InvalidTaskTypeError,
    JsonCodec,
    PayloadTooLargeError,
    Worqr,
)

LIMIT = 64  # the clients' max_payload_size, small so that sizes around it are cheap to reach
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

#: Any text, lone surrogates and control characters included.
any_char = st.characters(exclude_categories=())
any_text = st.text(any_char, max_size=24) | st.text(st.sampled_from("ab{}:%\x00é🦄"), min_size=1000, max_size=1030)


def valid_name(name: str, limit: int) -> bool:
    """A name worqr must accept: 1 to ``limit`` characters, UTF-8 encodable, no control characters
    (C0, DEL, C1) and no line or paragraph separator (U+2028, U+2029)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return 1 <= len(name) <= limit and not any(
        ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in name
    )


def encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class Pair:
    producer: Worqr
    worker: Worqr
    raw: redis.Redis
    queues: Iterator[str]

    def fresh_queue(self) -> str:
        return next(self.queues)


@pytest.fixture
def pair(make_worqr: Callable[..., Worqr], raw: redis.Redis) -> Pair:
    producer, worker = make_worqr(max_payload_size=LIMIT), make_worqr(max_payload_size=LIMIT)
    worker.start_worker()
    return Pair(producer, worker, raw, (f"fuzz-{i}" for i in itertools.count()))


@SETTINGS
@given(name=any_text)
def test_any_text_is_a_queue_name_or_refused_before_any_write(pair: Pair, name: str) -> None:
    before = snapshot(pair.raw, pair.producer.prefix)
    if not valid_name(name, 1024):
        with pytest.raises(InvalidNameError):
            pair.producer.enqueue(name, "task")
        with pytest.raises(InvalidNameError):
            pair.worker.start_work(name)
        assert snapshot(pair.raw, pair.producer.prefix) == before
        return
    pair.producer.enqueue(name, ["first", "second"])
    pair.worker.start_work(name)
    process = pair.worker.dequeue(name)
    assert process is not None and (process.queue, process.task) == (name, "first")
    pair.worker.finish_process(process.id)
    assert pair.producer.get_tasks(name) == ["second"]
    assert name in pair.producer.get_queues()
    new_keys = [k for k in snapshot(pair.raw, pair.producer.prefix) if k not in before]
    assert len({key_slot(k) for k in new_keys if not k.startswith(b"{" + pair.producer.prefix.encode() + b"}")}) == 1
    pair.worker.stop_work(name)
    assert pair.producer.delete_queue(name) == 1
    assert name not in pair.producer.get_queues()


@SETTINGS
@given(tasks=st.lists(st.text(any_char, max_size=40), min_size=1, max_size=5))
def test_any_text_task_round_trips_or_is_refused_before_any_write(pair: Pair, tasks: list[str]) -> None:
    queue = pair.fresh_queue()
    valid = all(t and encodable(t) and len(t.encode("utf-8")) <= LIMIT for t in tasks)
    before = snapshot(pair.raw, pair.producer.prefix)
    if not valid:
        with pytest.raises((InvalidTaskTypeError, PayloadTooLargeError)):
            pair.producer.enqueue(queue, tasks)
        assert snapshot(pair.raw, pair.producer.prefix) == before
        return
    assert pair.producer.enqueue(queue, tasks) == len(tasks)
    assert pair.producer.get_tasks(queue) == tasks
    pair.worker.start_work(queue)
    for task in tasks:
        process = pair.worker.dequeue(queue)
        assert process is not None and process.task == task
        pair.worker.finish_process(process.id)
    pair.worker.stop_work(queue)
    pair.producer.delete_queue(queue)


@SETTINGS
@given(payload=st.binary(max_size=LIMIT + 8))
def test_any_bytes_task_round_trips_exactly(pair: Pair, payload: bytes) -> None:
    queue = pair.fresh_queue()
    blobs = pair.producer.queue(queue, BytesCodec())
    if not payload or len(payload) > LIMIT:
        before = snapshot(pair.raw, pair.producer.prefix)
        with pytest.raises((InvalidTaskTypeError, PayloadTooLargeError)):
            blobs.enqueue(payload)
        assert snapshot(pair.raw, pair.producer.prefix) == before
        return
    events: list[Event] = []
    pair.producer.on(queue, events.append)
    blobs.enqueue_many([payload, payload])
    assert blobs.tasks() == [payload, payload]
    pair.worker.start_work(queue)
    process = pair.worker.queue(queue, BytesCodec()).dequeue()
    assert process is not None and process.task == payload
    pair.worker.finish_process(process.id)
    assert blobs.cancel(payload) == 1
    wait_until(lambda: {"done", "cancel"} <= {e.type for e in events})
    cancel = next(e for e in events if e.type == "cancel")
    carried = base64.b64decode(cancel.message) if cancel.task_encoding == "base64" else cancel.message.encode("utf-8")
    assert carried == payload
    done = json.loads(next(e for e in events if e.type == "done").message)
    assert (
        base64.b64decode(done["task"]) if done.get("task_encoding") == "base64" else done["task"].encode()
    ) == payload
    pair.producer.off(queue, events.append)
    pair.worker.stop_work(queue)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)


@SETTINGS
@given(value=json_values)
def test_any_json_value_round_trips_by_value_and_is_unique_by_value(pair: Pair, value: Any) -> None:
    queue = pair.fresh_queue()
    typed = pair.producer.queue(queue, JsonCodec())
    if len(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()) > LIMIT:
        with pytest.raises(PayloadTooLargeError):
            typed.enqueue(value)
        return
    typed.enqueue(value, unique=True)
    assert typed.tasks() == [value]
    if isinstance(value, dict):
        value = dict(reversed(list(value.items())))  # the same value, keys in another order
    with pytest.raises(DuplicateTaskError):
        typed.enqueue(value, unique=True)
    assert typed.cancel(value) == 1


@SETTINGS
@given(value=st.sampled_from([math.nan, math.inf, -math.inf]), nested=st.booleans())
def test_json_values_that_are_not_json_are_refused(pair: Pair, value: float, nested: bool) -> None:
    with pytest.raises(InvalidTaskTypeError):
        pair.producer.queue(pair.fresh_queue(), JsonCodec()).enqueue({"x": [value]} if nested else value)


@SETTINGS
@given(text=st.text(st.sampled_from("aé€🦄"), min_size=1, max_size=40), limit=st.integers(1, 80))
def test_the_size_limit_counts_encoded_bytes(make_worqr: Callable[..., Worqr], text: str, limit: int) -> None:
    wq = make_worqr(max_payload_size=limit)
    if len(text.encode("utf-8")) <= limit:
        assert wq.enqueue("sizes", text) == 1
        assert wq.get_tasks("sizes")[-1] == text
    else:
        with pytest.raises(PayloadTooLargeError, match=f"{len(text.encode())} bytes is over the limit of {limit}"):
            wq.enqueue("sizes", text)


@settings(max_examples=100, deadline=None)
@given(prefix=any_text, worker_id=any_text)
def test_any_text_is_a_prefix_and_worker_id_or_refused_at_construction(prefix: str, worker_id: str) -> None:
    prefix_ok = valid_name(prefix, 256) and "{" not in prefix and "}" not in prefix
    worker_ok = valid_name(worker_id, 256)
    if prefix_ok and worker_ok:
        Worqr(redis="redis://127.0.0.1:1/0", prefix=prefix, worker_id=worker_id).close()  # builds, connects to nothing
        return
    with pytest.raises(InvalidArgumentError):
        Worqr(redis="redis://127.0.0.1:1/0", prefix=prefix, worker_id=worker_id)


@settings(max_examples=30, deadline=None)
@given(
    prefix=st.text(any_char, min_size=1, max_size=12).filter(lambda p: valid_name(p, 256) and not {"{", "}"} & set(p))
)
def test_any_valid_prefix_works_against_a_server(redis_url: str, prefix: str) -> None:
    queue = f"fuzz-{uuid.uuid4().hex}"  # the prefix may be one another test uses: keep to a queue of our own
    with Worqr(redis=redis_url, prefix=prefix) as wq:
        wq.enqueue(queue, "a")
        assert wq.get_tasks(queue) == ["a"]
        assert queue in wq.get_queues()
        wq.delete_queue(queue)
        assert queue not in wq.get_queues()
