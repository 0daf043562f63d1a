"""The flows of workers: register, join and leave queues, the heartbeat, and reaping the
workers declared dead (their processes go back to the front of their queues)."""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Sequence

from worqr._protocol import ops, registry_ops
from worqr._protocol.checks import check_worker_id
from worqr._protocol.flows.drive import Flow, Pause
from worqr._protocol.flows.steps import batch, check_listed, one
from worqr._protocol.keys import LeaseKeys, StreamKeys
from worqr._protocol.session import DECLARED_DEAD, Session
from worqr._protocol.version import VERSION
from worqr.errors import RedisPermissionError, WorkerIdInUseError, WorkerLostError

log = logging.getLogger("worqr")


def worker_record(session: Session) -> dict[str, str]:
    """What this worker's record says of it (the fields of {P}:worker:<W> but started_at)."""
    return {
        "host": platform.node(),
        "pid": str(os.getpid()),
        "version": VERSION,
        "timeout_ms": str(session.timeout_ms),
        **session.worker_details,
    }


def start_worker(session: Session) -> Flow[None]:
    registry, worker_id = session.registry, session.worker_id
    if session.state.is_live():
        return
    # The id may still be registered by an earlier incarnation (a process restarted under a
    # fixed id). If its heartbeat has a lease left it may be alive: wait the lease out once;
    # a worker that renewed it meanwhile is alive and keeps its id. Otherwise reap it first.
    # A client that registered the id itself and lost it (it fenced itself, or was declared
    # dead) reaps its own earlier incarnation at once, as the runtime's rejoin does: a
    # heartbeat of its own, in flight when it was lost, may still land and renew the lease.
    own_earlier = session.state.started
    waited = False
    incarnation = session.state.new_incarnation()
    for _ in range(3):
        sent_at = time.monotonic()
        record = {**worker_record(session), "incarnation": incarnation}
        lease_ms = yield from one(registry_ops.register_worker(registry, worker_id, session.timeout_ms, record))
        if lease_ms is None:
            break
        if lease_ms > 0 and waited and not own_earlier:
            msg = (
                f"worker id {worker_id!r} belongs to a live worker (it renews its heartbeat); choose another worker_id"
            )
            raise WorkerIdInUseError(msg)
        if lease_ms > 0 and not own_earlier:
            waited = True
            yield Pause(lease_ms / 1000 + 0.05)
            continue
        log.info("worker %s was still registered; requeuing its old processes first", worker_id)
        yield from reap(session, [worker_id], force=True)
    else:
        msg = f"worker id {worker_id!r} keeps being registered by another client; choose another worker_id"
        raise WorkerIdInUseError(msg)
    session.state.mark_started(incarnation, sent_at)
    log.info("worker %s started", worker_id)
    yield from warn_if_keys_can_be_evicted()


def warn_if_keys_can_be_evicted() -> Flow[None]:
    """Log a warning when the server's eviction policy can drop worqr's keys at maxmemory."""
    try:
        policy = yield from one(registry_ops.eviction_policy())
    except RedisPermissionError:
        log.info("cannot read Redis's maxmemory-policy (INFO is not granted); it should be noeviction")
        return
    if policy is not None and policy.startswith("allkeys-"):
        log.warning(
            "Redis's maxmemory-policy is %s: at maxmemory Redis may evict worqr's queues and lose their tasks; "
            "set it to noeviction, or give worqr a Redis of its own",
            policy,
        )
    elif policy is not None and policy.startswith("volatile-"):
        log.warning(
            "Redis's maxmemory-policy is %s: at maxmemory Redis may evict worker heartbeat keys (they expire), "
            "and peers then reap live workers; set it to noeviction, or give worqr a Redis of its own",
            policy,
        )


def start_work(session: Session, queue: str) -> Flow[int]:
    """Join ``queue``; returns how many tasks are waiting there."""
    joined = yield from start_work_many(session, [queue])
    return joined[session.queue(queue).queue]


def start_work_many(session: Session, queues: Sequence[str]) -> Flow[dict[str, int]]:
    """Join every queue of ``queues``, in two round trips whatever their number; returns how
    many tasks wait on each."""
    all_keys = [session.queue(queue) for queue in queues]
    worker_id = session.worker_id
    for keys in all_keys:
        session.state.check_started(keys.queue, worker_id)
    # Queues first, registry second: a worker declared dead in between finds add_worker_queue
    # refused and leaves again, so the reaper never misses a queue it could hold processes on.
    incarnation = session.state.incarnation
    pending = yield from batch([ops.join_queue(keys, worker_id, incarnation) for keys in all_keys])
    alive = yield from batch(
        [registry_ops.add_worker_queue(session.registry, worker_id, keys.queue) for keys in all_keys]
    )
    if not all(alive):
        requeued = yield from batch([ops.leave_queue(keys, worker_id, interrupted=False) for keys in all_keys])
        refilled = [keys.queue for keys, n in zip(all_keys, requeued, strict=True) if n]
        listed = yield from batch([registry_ops.add_queue(session.registry, queue) for queue in refilled])
        for queue, result in zip(refilled, listed, strict=True):
            check_listed(result, queue)
        session.state.mark_lost()
        msg = f"worker {worker_id!r} was declared dead; call start_worker() again"
        raise WorkerLostError(msg)
    for keys in all_keys:
        session.state.add_working(keys.queue)
    return {keys.queue: count for keys, count in zip(all_keys, pending, strict=True)}


def stop_work(session: Session, queue: str) -> Flow[int]:
    """Leave ``queue``, requeuing this worker's processes there; returns how many."""
    keys = session.queue(queue)
    session.state.discard_working(keys.queue)
    requeued = yield from one(ops.leave_queue(keys, session.worker_id, interrupted=False))
    if requeued:
        (listed,) = yield [registry_ops.add_queue(session.registry, keys.queue)]
        check_listed(listed, keys.queue)
    yield [registry_ops.remove_worker_queue(session.registry, session.worker_id, keys.queue)]
    return requeued


def get_workers(session: Session) -> Flow[list[str]]:
    return (yield from one(registry_ops.members(session.registry.workers)))


def get_working_queues(session: Session, worker_id: str | None) -> Flow[list[str]]:
    target = session.worker_id if worker_id is None else check_worker_id(worker_id)
    return (yield from one(registry_ops.members(session.registry.queues_of(target))))


#: Passes a reap makes over a worker's queues before leaving the rest to the next cleanup.
REAP_PASSES = 3


def reap(session: Session, candidates: Sequence[str], *, force: bool, interrupted: bool = True) -> Flow[list[str]]:
    """Declare dead the candidates whose heartbeat is gone (all of them if ``force``),
    requeue the processes of every worker being reaped, and return the ids this call forgot.
    ``interrupted`` (all but a clean close): each requeued task used an attempt.

    Safe to run concurrently and to resume after a crash: every step is idempotent, and a
    worker stays in the reaping set until all its queues were released.
    """
    registry = session.registry
    reaping = yield from one(registry_ops.declare_dead(registry, candidates, force=force))
    targets = [w for w in reaping if w in candidates] if force else reaping
    forgotten = []
    for worker_id in targets:
        released: list[str] = []
        total = 0
        released_leases = False
        for _ in range(REAP_PASSES):  # another pass only if queues were added meanwhile
            queues = yield from one(registry_ops.members(registry.queues_of(worker_id)))
            ending = reaping[worker_id]  # the incarnation declared dead: a later one's queues stay
            requeued = yield from batch(
                [
                    ops.leave_queue(session.queue(q), worker_id, interrupted=interrupted, incarnation=ending)
                    for q in queues
                ]
            )
            refilled = [q for q, n in zip(queues, requeued, strict=True) if n]
            for queue, listed in zip(
                refilled, (yield from batch([registry_ops.add_queue(registry, q) for q in refilled])), strict=True
            ):
                check_listed(listed, queue)
            released += queues
            total += sum(requeued)
            if not released_leases:  # once: declare_dead froze the worker's set of leases
                released_leases = True
                freed = yield from release_leases(session, worker_id, ending)
                if freed:
                    log.info("reaped worker %s: released %d lease(s)", worker_id, freed)
                handed = yield from release_streams(session, worker_id, ending)
                if handed:
                    log.info("reaped worker %s: handed %d stream message(s) on", worker_id, handed)
            done, left = yield from one(registry_ops.forget_worker(registry, worker_id, queues))
            if done:
                forgotten.append(worker_id)
                if worker_id == session.worker_id and not interrupted:  # a clean leave (close)
                    log.info("worker %s left: gave back %d task(s) on %s", worker_id, total, released)
                else:
                    level = logging.INFO if worker_id == session.worker_id else logging.WARNING
                    log.log(level, "reaped worker %s: requeued %d task(s) on %s", worker_id, total, released)
            if not left:
                break
    if session.worker_id in targets:
        session.state.mark_lost()
    return forgotten


def release_leases(session: Session, worker_id: str, incarnation: str) -> Flow[int]:
    """A step of reaping ``worker_id``: release every lease (worqr.leases) its declared
    ``incarnation`` holds; after declare_dead, which freezes its set of leases, and before
    forget_worker, which drops the set. Returns how many it released."""
    names = yield from one(registry_ops.members(session.registry.leases_of(worker_id)))
    released = yield from batch(
        [registry_ops.release_lease(LeaseKeys(session.prefix, name), worker_id, incarnation) for name in names]
    )
    return sum(released)


def release_streams(session: Session, worker_id: str, incarnation: str) -> Flow[int]:
    """A step of reaping ``worker_id``: hand the messages its declared ``incarnation`` holds
    in every stream it consumed (worqr.streams) to the live consumers of their groups; after
    declare_dead, which freezes its set of streams, and before forget_worker, which drops
    it. Returns how many messages it handed on."""
    entries = yield from one(registry_ops.members(session.registry.streams_of(worker_id)))
    calls = []
    for entry in entries:  # "<name>", or "<name>\n<partitions>" for an ordered stream
        name, _, partitions = entry.partition("\n")
        keys = StreamKeys(session.prefix, name)
        calls.append(registry_ops.release_stream(keys, worker_id, incarnation, int(partitions or 0)))
    return sum((yield from batch(calls)))


def cleanup_workers(session: Session) -> Flow[list[str]]:
    workers = yield from one(registry_ops.members(session.registry.workers))
    return (yield from reap(session, workers, force=False))


def fail_worker(session: Session, worker_id: str | None) -> Flow[None]:
    """Reap a worker now. This worker's own (the default) is a clean leave: its tasks keep
    their attempts; another worker's counts as an interruption of its tasks."""
    target = session.worker_id if worker_id is None else check_worker_id(worker_id)
    yield from reap(session, [target], force=True, interrupted=target != session.worker_id)


def heartbeat(session: Session) -> Flow[bool]:
    """Renew this worker's heartbeat; if it is gone, requeue own processes and return False."""
    alive, _ = yield from beat(session)
    return alive


def beat(session: Session) -> Flow[tuple[bool, bool]]:
    """`heartbeat`, and whether a peer's heartbeat deadline has passed (the supervisor then
    reaps now rather than at its next sweep; lua/heartbeat.lua).

    The reply is judged against the incarnation the heartbeat was sent for: a late reply
    that finds an earlier registration gone says nothing of the current one."""
    state, worker_id = session.state, session.worker_id
    incarnation, sent_at = state.incarnation, time.monotonic()
    alive, overdue = yield from one(registry_ops.heartbeat(session.registry, worker_id, session.timeout_ms))
    if alive:
        state.confirm(incarnation, sent_at)
        return True, overdue
    if incarnation != state.incarnation:
        return True, False  # registered again meanwhile: this reply was about the earlier incarnation
    unconfirmed = state.unconfirmed_for()
    reason = DECLARED_DEAD
    if session.worker_timeout is not None and unconfirmed > session.worker_timeout:
        reason = (
            f"had no heartbeat confirmed for {unconfirmed:.1f} s, longer than worker_timeout "
            f"({session.worker_timeout:g} s: Redis was unreachable, or this process was paused), "
            "and its heartbeat expired meanwhile"
        )
    if not state.lost:  # else it fenced itself already, and said why
        log.error("worker %s %s: it stops taking work", worker_id, reason)
    state.mark_lost(reason, incarnation=incarnation)
    yield from reap(session, [worker_id], force=True)
    return False, False


def pending_counts(session: Session, queues: Sequence[str]) -> Flow[dict[str, int]]:
    """How many tasks wait on each queue (the polling fallback for missed work events)."""
    counts = yield from batch([ops.count(session.queue(q)) for q in queues])
    return dict(zip(queues, counts, strict=True))
