"""Process ids, dead letter ids and delayed entries stay unique when Redis loses data.

Their numbers come from a queue's counter (``{P:Q}:seq``), which a loss takes back with the
rest: FLUSHALL and a restart without persistence drop it, a restart from an older snapshot
rolls it back, an eviction policy may drop it alone. A number handed out again would let a
handler's late ``finish_process`` from before the loss finish a task that got the same
number after it, and never ran. ``lua/include/next_ids.lua`` hands out numbers from blocks
that are at least the server's clock in microseconds, so the numbers after a loss are above
every one issued before it. Each test starts its own server; a loss takes the worker
registry too, so after one the worker starts again (a second client under the same worker
id: the process hash is per worker id, where a reused number would do harm).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
import redis

import worqr
from worqr import ProcessLostError, Worqr
from worqr._protocol import flows
from worqr._protocol.codec import StrCodec
from worqr._protocol.keys import QueueKeys
from worqr.testing import RedisServer

PREFIX = "loss"
WORKER = "w"
# No heartbeat, reap or poll while a test runs: the loss, and what the worker does about
# it, happen only where the test says.
QUIET: dict[str, Any] = {
    "heartbeat_interval": 60.0,
    "worker_timeout": 180.0,
    "cleanup_interval": 600.0,
    "poll_interval": 600.0,
}
LUA = Path(worqr.__file__).parent / "lua"


class Loss:
    """A private server, a raw client on it, and worqr clients that are closed at the end
    (the last made first, so that an old incarnation leaves after the new one)."""

    def __init__(self, stack: ExitStack, server: RedisServer) -> None:
        self.stack, self.server = stack, server
        self.keys = QueueKeys(PREFIX, "jobs")

    def raw(self) -> redis.Redis:
        """A fresh raw client (one made before a restart would hold a dead connection)."""
        client = redis.Redis(port=self.server.port)
        self.stack.callback(client.close)
        return client

    def client(self) -> Worqr:
        client = Worqr(redis=self.server.url, prefix=PREFIX, worker_id=WORKER, **QUIET)
        self.stack.callback(client.close)
        return client

    def worker(self) -> Worqr:
        """A client that works the queue as worker WORKER."""
        client = self.client()
        client.start_worker()
        client.start_work("jobs")
        return client

    def processes(self) -> dict[bytes, bytes]:
        """WORKER's processes on the queue, as stored: number -> payload."""
        return cast("dict[bytes, bytes]", self.raw().hgetall(self.keys.processes(WORKER)))

    def delayed(self) -> list[tuple[bytes, bytes]]:
        """The queue's delayed entries, in the order they leave: (number as stored, payload)."""
        members = cast("list[bytes]", self.raw().zrange(self.keys.delayed, 0, -1))
        return [cast("tuple[bytes, bytes]", tuple(m.split(b":", 1))) for m in members]


@contextmanager
def loss(*extra_args: str) -> Iterator[Loss]:
    with ExitStack() as stack:
        server = stack.enter_context(RedisServer(extra_args=extra_args))
        yield Loss(stack, server)


def number(process_id: str) -> int:
    return int(process_id.split(":", 1)[0])


def take(client: Worqr) -> worqr.Process[str]:
    process = client.dequeue("jobs")
    assert process is not None
    return process


def test_a_late_finish_from_before_a_flushall_is_refused_and_the_task_after_it_untouched() -> None:
    with loss() as lab:
        before = lab.worker()
        before.enqueue("jobs", "old")
        held = take(before)  # a handler still runs it when the data goes
        lab.raw().flushall()
        after = lab.worker()  # the registry went too: the worker starts again
        after.enqueue("jobs", "new")
        fresh = take(after)
        with pytest.raises(ProcessLostError):
            before.finish_process(held.id)  # the old handler's late result
        assert lab.processes() == {str(number(fresh.id)).encode(): b"new"}  # not finished by it
        assert number(fresh.id) > number(held.id)
        after.finish_process(fresh.id)
        assert lab.processes() == {}


def test_a_late_finish_from_before_a_restart_without_persistence_is_refused() -> None:
    with loss() as lab:  # RedisServer's default: no RDB, no AOF
        before = lab.worker()
        before.enqueue("jobs", "old")
        held = take(before)
        lab.server.restart()
        assert lab.raw().dbsize() == 0  # everything was lost, the counter too
        after = lab.worker()
        after.enqueue("jobs", "new")
        fresh = take(after)
        with pytest.raises(ProcessLostError):
            before.finish_process(held.id)
        with pytest.raises(ProcessLostError):
            before.stop_process(held.id)
        with pytest.raises(ProcessLostError):
            before.fail_process(held.id, "boom")
        assert lab.processes() == {str(number(fresh.id)).encode(): b"new"}
        assert number(fresh.id) > number(held.id)
        after.finish_process(fresh.id)
        assert after.get_tasks("jobs") == [] and lab.processes() == {}


def test_a_late_finish_of_an_id_the_rollback_to_a_snapshot_lost_is_refused() -> None:
    with loss() as lab:  # no automatic saves: the snapshot is the SAVE below
        worker = lab.worker()
        worker.enqueue("jobs", "kept")
        kept = take(worker)
        assert lab.raw().save()  # dump.rdb: the worker, its process `kept`, the counter
        worker.enqueue("jobs", "lost")
        late = take(worker)  # its number was issued after the snapshot
        lab.server.restart()  # loads dump.rdb: the counter goes back to before `late`
        assert lab.processes() == {str(number(kept.id)).encode(): b"kept"}
        worker.enqueue("jobs", "new")  # still registered: the snapshot has it
        fresh = take(worker)
        with pytest.raises(ProcessLostError):
            worker.finish_process(late.id)  # the rolled-back process's late result
        assert lab.processes() == {
            str(number(kept.id)).encode(): b"kept",
            str(number(fresh.id)).encode(): b"new",
        }
        assert number(fresh.id) > number(late.id) > number(kept.id)
        worker.finish_process(fresh.id)
        worker.finish_process(kept.id)
        assert lab.processes() == {}


def test_dead_letter_ids_and_delayed_entries_after_a_flushall_are_new() -> None:
    with loss() as lab:
        before = lab.worker()
        before.enqueue("jobs", "x")
        old_id = before.fail_process(take(before).id, "boom", max_attempts=1).dead_letter_id
        assert old_id is not None
        assert [letter.id for letter in before.get_dead_letters("jobs")] == [old_id]  # a client holds it
        lab.raw().flushall()
        after = lab.worker()
        after.enqueue("jobs", "y")
        new_id = after.fail_process(take(after).id, "boom", max_attempts=1).dead_letter_id
        assert new_id is not None
        assert before.requeue_dead_letters("jobs", old_id) == 0  # acts on nothing new
        assert before.purge_dead_letters("jobs", old_id) == 0
        assert [(letter.id, letter.task) for letter in after.get_dead_letters("jobs")] == [(new_id, "y")]
        assert after.get_tasks("jobs") == []
        assert int(new_id) > int(old_id)
        # A retry's delayed entry and a delayed enqueue are numbered above both as well.
        after.enqueue("jobs", "z")
        assert after.fail_process(take(after).id, "boom", max_attempts=3, retry_delay=3600).dead_letter_id is None
        after.enqueue("jobs", ["d1", "d2"], delay=3600)
        delayed = lab.delayed()
        assert [payload for _, payload in delayed] == [b"z", b"d1", b"d2"]
        numbers = [int(n) for n, _ in delayed]
        assert int(new_id) < numbers[0] < numbers[1] < numbers[2]


def test_a_counter_lost_alone_neither_merges_delayed_entries_nor_overwrites_processes() -> None:
    """An allkeys-* eviction policy can drop the counter and keep the rest: the numbers after
    it must not meet the delayed entries and processes numbered before."""
    with loss() as lab:
        worker = lab.worker()
        raw = lab.raw()
        worker.enqueue("jobs", "t", delay=3600)
        worker.enqueue("jobs", "a")
        first = take(worker)
        raw.delete(lab.keys.seq)  # what eviction does
        worker.enqueue("jobs", "t", delay=3600)  # the same payload: a distinct entry
        assert worker.count_delayed("jobs") == 2
        worker.enqueue("jobs", "b")
        second = take(worker)
        assert lab.processes() == {str(number(first.id)).encode(): b"a", str(number(second.id)).encode(): b"b"}
        worker.finish_process(first.id)
        worker.finish_process(second.id)


def test_a_batch_gets_consecutive_numbers_above_the_clock_and_goes_back_in_order() -> None:
    """Numbers are past 2^53 (they are block * 1000 + index), so the scripts never handle
    them as Lua numbers: a batch of 1000 is requeued in dequeue order, and a delayed batch
    across blocks keeps its order."""
    with loss() as lab:
        worker, raw = lab.worker(), lab.raw()
        tasks = [f"t{i:04d}" for i in range(1000)]
        worker.enqueue("jobs", tasks)
        seconds, micros = raw.time()
        batch = worker._drive(flows.take(worker._session, "jobs", StrCodec(), 1000))
        numbers = [number(process.id) for process, _ in batch.processes]
        assert [process.task for process, _ in batch.processes] == tasks
        assert numbers == list(range(numbers[0], numbers[0] + 1000))
        assert numbers[0] >= (int(seconds) * 1_000_000 + int(micros)) * 1000 > 2**53
        worker.stop_work("jobs")  # leave_queue sorts the processes by number
        assert worker.get_tasks("jobs") == tasks
        many = [f"d{i:04d}" for i in range(2500)]
        worker.enqueue("jobs", many, delay=3600)
        entries = lab.delayed()
        assert [payload.decode() for _, payload in entries] == many
        assert all(len(n) == 20 for n, _ in entries)  # zero-padded
        delayed = [int(n) for n, _ in entries]
        assert delayed == list(range(delayed[0], delayed[0] + 2500))
        assert delayed[0] > numbers[-1]


def test_every_script_that_draws_from_the_counter_does_it_through_next_ids() -> None:
    drawing = []
    for path in sorted(LUA.glob("*.lua")):
        source = path.read_text(encoding="utf-8")
        if re.search(r"^-- KEYS\[\d+\] seq ", source, re.MULTILINE):
            drawing.append(path.stem)
            assert "-- @include next_ids" in source, path.name
            assert not re.search(r"\b(INCR|INCRBY|SET)\b\"?, seq\b", source), path.name
        else:
            assert "next_ids" not in source, path.name
    assert drawing == ["dequeue", "fail", "schedule"]
