"""Key layout: every script stays in one Cluster slot, and any queue name is safe."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from tests.protocol_helpers import all_calls
from worqr import InvalidNameError, Worqr
from worqr._protocol import ops, registry_ops
from worqr._protocol.checks import check_queue_name
from worqr._protocol.keys import QueueKeys

queue_names = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=40)


def test_all_calls_covers_every_factory() -> None:
    factories = {
        name
        for module in (ops, registry_ops)
        for name, f in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and f.__module__ == module.__name__
    }
    covered = {name for name in factories if name in all_calls.__code__.co_names}
    assert covered == factories


@given(queue=queue_names, worker=queue_names)
@settings(max_examples=200)
def test_every_script_touches_one_slot(queue: str, worker: str) -> None:
    for call in all_calls(queue, worker):
        if call.command == "INFO":  # a server setting: no key, no slot
            assert call.keys == ()
            continue
        assert len({key_slot(k.encode()) for k in call.keys}) == 1, (call.script or call.command, call.keys)


def test_queue_keys_hash_on_prefix_and_queue() -> None:
    keys = QueueKeys("worqr", "jobs")
    assert keys.tag == "{worqr:jobs}"
    assert keys.pending == "{worqr:jobs}:queue"
    assert key_slot(keys.pending.encode()) == key_slot(b"worqr:jobs")


@given(queue=queue_names)
def test_braces_and_colons_never_leave_the_tag(queue: str) -> None:
    tag = QueueKeys("app:worqr", queue).tag
    assert tag.count("{") == 1 and tag.count("}") == 1
    assert tag[1:-1].count(":") == 2  # the prefix's own colon, then the separator


@given(a=queue_names, b=queue_names)
def test_distinct_queue_names_get_distinct_keys(a: str, b: str) -> None:
    if a != b:
        assert QueueKeys("p", a).pending != QueueKeys("p", b).pending


def test_prefixes_with_colons_cannot_collide() -> None:
    assert QueueKeys("a:b", "c").pending != QueueKeys("a", "b:c").pending


@pytest.mark.parametrize("name", ["{jobs}", "a}b{c", "q:1:2", "%7B", "日本語", "with space", "x" * 1024])
def test_odd_queue_names_work_end_to_end(make_worqr: Callable[..., Worqr], raw: redis.Redis, name: str) -> None:
    wq = make_worqr()
    wq.start_worker()
    wq.start_work(name)
    wq.enqueue(name, ["a", "b"])
    process = wq.dequeue(name)
    assert process is not None and process.queue == name
    wq.finish_process(process.id)
    assert wq.get_tasks(name) == ["b"]
    assert name in wq.get_queues()
    keys = QueueKeys(wq.prefix, name)
    stored = [k if isinstance(k, bytes) else k.encode() for k in raw.keys(keys.tag + "*")]
    assert stored
    assert {key_slot(k) for k in stored} == {key_slot(keys.pending.encode())}


def test_queue_name_checks_give_clear_messages() -> None:
    with pytest.raises(InvalidNameError, match="must not be empty"):
        check_queue_name("")
    with pytest.raises(InvalidNameError, match="must be a str"):
        check_queue_name(b"jobs")
    with pytest.raises(InvalidNameError, match="control character"):
        check_queue_name("a\nb")
    with pytest.raises(InvalidNameError, match="limit is 1024"):
        check_queue_name("x" * 1025)
