"""The protocol layer as tests use it: one call of every factory in `worqr._protocol.ops`,
the record of the batches of calls a client sent, and small flows for `flows.drive_together`."""

from __future__ import annotations

from typing import Any

from worqr import RedisCommandError
from worqr._protocol import flows, ops, registry_ops
from worqr._protocol.call import Call
from worqr._protocol.keys import LeaseKeys, QueueKeys, RegistryKeys, StreamKeys
from worqr._protocol.session import Session
from worqr.calls import ops as call_ops
from worqr.leases import ops as lease_ops
from worqr.operations import reads as operation_reads
from worqr.schedules import ops as schedule_ops
from worqr.schedules.timing import Rules
from worqr.streams import ops as stream_ops
from worqr.streams.messages import Consumer


def all_calls(queue: str, worker: str) -> list[Call[Any]]:
    """One call of every factory in `worqr._ops`, for the given names."""
    q, r, lease = QueueKeys("worqr", queue), RegistryKeys("worqr"), LeaseKeys("worqr", queue)
    stream = StreamKeys("worqr", queue)
    return [
        ops.enqueue(q, [b"t"], unique=True),
        ops.dequeue(q, worker, 1, "inc"),
        ops.finish(q, worker, 1, "null", "1:x"),
        ops.finish_many(q, worker, [(1, "null"), (2, "null")]),
        ops.stop(q, worker, 1, "1:x"),
        ops.cancel(q, b"t"),
        ops.delete_queue(q),
        ops.join_queue(q, worker, "inc"),
        ops.leave_queue(q, worker, interrupted=True),
        ops.schedule(q, [b"t"], unique=False, at_ms=None, in_ms=10),
        ops.fail(q, worker, 1, "1:x", max_attempts=3, retry_in_ms=0, counted=True, error_type="E", message="m"),
        ops.requeue_dead(q, ["1"]),
        ops.purge_dead(q, []),
        ops.count_delayed(q),
        ops.count_dead(q),
        ops.dead_letters(q),
        ops.count(q),
        ops.peek(q),
        ops.tasks(q),
        ops.processes(q, worker),
        registry_ops.members(r.queues),
        registry_ops.add_queue(r, queue),
        registry_ops.remove_queue(r, queue),
        registry_ops.register_worker(r, worker, 1000, {"host": "h"}),
        registry_ops.heartbeat(r, worker, 1000),
        registry_ops.add_worker_queue(r, worker, queue),
        registry_ops.remove_worker_queue(r, worker, queue),
        registry_ops.declare_dead(r, [worker, worker + "2"], force=False),
        registry_ops.forget_worker(r, worker, [queue]),
        registry_ops.eviction_policy(),
        call_ops.call(
            q, "c:" + queue, due=None, key="k", result_ttl_ms=1, record_ttl_ms=1, function="f", caller=worker, task=b"t"
        ),
        call_ops.record(q, "c:" + queue),
        call_ops.cancel(q, "c:" + queue),
        call_ops.progress(q, worker, 1, "c:" + queue, "0.5"),
        operation_reads.counters(q),
        operation_reads.paused(q),
        operation_reads.in_flight(q, worker),
        operation_reads.attempts(q, [b"t"]),
        operation_reads.worker_record(r, worker),
        operation_reads.heartbeat_ttl(r, worker),
        operation_reads.ended(r),
        operation_reads.pause(q),
        operation_reads.resume(q),
        lease_ops.register(r, worker, queue),
        lease_ops.acquire(lease, worker, incarnation="inc", owner="owner", attempt="attempt", ttl_ms=1000),
        lease_ops.renew(lease, "owner", 1, 1000),
        lease_ops.release(lease, "owner", 1),
        registry_ops.release_lease(lease, worker, "inc"),
        registry_ops.release_stream(stream, worker, "inc"),
        *stream_calls(stream, r, worker),
        *lease_ops.holding(lease),
        lease_ops.current_token(lease),
        schedule_ops.peek(q),
        schedule_ops.put(q, "s", RULES, 1000, schedule_ops.Template("task", b"t")),
        schedule_ops.remove(q, "s"),
        schedule_ops.fire(q, "s", due_ms=1000, rev="1", fire=True, next_due_ms=2000, call_id=""),
        *schedule_ops.record(q, "s"),
        schedule_ops.index(r),
        schedule_ops.indexed_queue(r, "s"),
        schedule_ops.set_index(r, "s", queue),
        schedule_ops.drop_index(r, "s", queue),
    ]


RULES = Rules.check(cron=None, every=1, tz="UTC", overlap="allow", catch_up="latest")


class Recorded:
    """The batches of calls a client sent, and what a test asks of them."""

    def __init__(self) -> None:
        self.batches: list[list[Call[Any]]] = []

    def calls(self, script: str) -> list[Call[Any]]:
        return [call for batch in list(self.batches) for call in batch if call.script == script]

    def dequeues(self) -> int:
        return len(self.calls("dequeue"))

    def dequeue_counts(self) -> list[int]:
        """The ``count`` argument of each dequeue: how many tasks the worker asked for."""
        return [int(call.args[2]) for call in self.calls("dequeue")]

    def finished_seqs(self) -> list[list[int]]:
        """The process numbers each finish_many call finished (seq, result pairs after
        the done channel, the worker id and the outcome)."""
        return [[int(seq) for seq in call.args[3::2]] for call in self.calls("finish_many")]


def reads(session: Session, queue: str, rounds: int) -> flows.Flow[list[object]]:
    """A flow of ``rounds`` rounds on one queue: its length, its first task, its length again."""
    keys = session.queue(queue)
    steps: list[Call[Any]] = [ops.count(keys), ops.peek(keys), ops.count(keys)]
    seen: list[object] = []
    for call in steps[:rounds]:
        (result,) = yield [call]
        seen.append(result)
    return seen


def catching(session: Session, clobbered: str, fine: str) -> flows.Flow[list[object]]:
    """Reads a clobbered queue, catches Redis's refusal, then reads a fine one."""
    seen: list[object] = []
    try:
        yield [ops.count(session.queue(clobbered))]
    except RedisCommandError as exc:
        seen.append(type(exc).__name__)
    (result,) = yield [ops.count(session.queue(fine))]
    seen.append(result)
    return seen


def lost_dequeue(session: Session, queue: str) -> flows.Flow[object]:
    """Dequeues as a worker the queue does not know: the reply's parser raises WorkerLostError."""
    yield [ops.dequeue(session.queue(queue), "nobody", 1, "none")]
    return "not reached"


def stream_calls(stream: StreamKeys, registry: RegistryKeys, worker: str) -> list[Call[Any]]:
    """One call of every factory in `worqr.streams.ops`."""
    consumer = Consumer("g", worker, "inc")
    return [
        stream_ops.publish(stream, [b"m"], None, 0),
        stream_ops.join(stream, consumer, "$", retain=False, partitions=0),
        stream_ops.register(registry, worker, stream.name, 0),
        stream_ops.take(stream, consumer, 10, 5),
        stream_ops.ack(stream, consumer, ["1-0"]),
        stream_ops.ack_through(stream, consumer, "1-0"),
        stream_ops.leave(stream, consumer, 0),
        stream_ops.take_ordered(stream, consumer, 4, 10, 5, window_ms=3000),
        stream_ops.bury(stream, consumer, "1-0", "why"),
        stream_ops.trim(stream, "MAXLEN", 10),
        stream_ops.delete_group(stream, "g"),
        stream_ops.pending(stream, "g", 10),
        *stream_ops.groups(stream),
        stream_ops.read(stream, "0-0", 10),
        stream_ops.read_dead(stream, 10),
        stream_ops.length(stream),
        stream_ops.counters(stream),
        stream_ops.dead_length(stream),
    ]
