"""Property 3: heartbeats, peers reaping dead workers, and the fence against zombies."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.heartbeat_helpers import FAST, expire
from tests.helpers import pause_heartbeat, wait_until
from worqr import ProcessLostError, WorkerIdInUseError, WorkerLostError, Worqr
from worqr._protocol import ops, registry_ops
from worqr._protocol.flows.steps import one
from worqr._protocol.keys import QueueKeys, RegistryKeys

MakeWorqr = Callable[..., Worqr]


def take(client: Worqr, queue: str, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        process = client.dequeue(queue)
        assert process is not None
        ids.append(process.id)
    return ids


def working_on_jobs(make_worqr: MakeWorqr) -> Worqr:
    client = make_worqr(**FAST)
    client.start_worker()
    client.start_work("jobs")
    return client


@pytest.fixture
def victim(make_worqr: MakeWorqr) -> Worqr:
    return working_on_jobs(make_worqr)


@pytest.fixture
def peer(make_worqr: MakeWorqr) -> Worqr:
    return working_on_jobs(make_worqr)


def test_peer_reaps_expired_worker_and_requeues_in_original_order(victim: Worqr, peer: Worqr, raw: redis.Redis) -> None:
    peer.enqueue("jobs", ["a", "b", "c", "d", "e"])
    take(victim, "jobs", 3)
    expire(victim, raw)
    assert peer.cleanup_workers() == [victim.worker_id]
    assert peer.get_tasks("jobs") == ["a", "b", "c", "d", "e"]
    assert victim.worker_id not in peer.get_workers()
    assert not raw.exists(QueueKeys(peer.prefix, "jobs").processes(victim.worker_id))


def test_live_workers_are_not_reaped(victim: Worqr, peer: Worqr) -> None:
    peer.enqueue("jobs", "a")
    take(victim, "jobs", 1)
    assert peer.cleanup_workers() == []
    assert peer.count_queue("jobs") == 0


def test_reaped_zombie_cannot_finish_stop_or_dequeue(victim: Worqr, peer: Worqr, raw: redis.Redis) -> None:
    peer.enqueue("jobs", ["a", "b"])
    held_a, held_b = take(victim, "jobs", 2)
    expire(victim, raw)
    peer.cleanup_workers()
    retaken = peer.dequeue("jobs")
    assert retaken is not None and retaken.task == "a"
    with pytest.raises(ProcessLostError):
        victim.finish_process(held_a)
    with pytest.raises(ProcessLostError):
        victim.stop_process(held_b)
    with pytest.raises(WorkerLostError):
        victim.dequeue("jobs")
    with pytest.raises(WorkerLostError):
        victim.dequeue("jobs")  # and it stays out until start_worker()
    peer.finish_process(retaken.id)
    assert peer.get_tasks("jobs") == ["b"]


def test_zombie_cannot_join_a_queue_after_being_declared_dead(victim: Worqr, peer: Worqr, raw: redis.Redis) -> None:
    pause_heartbeat(victim)  # the victim must not learn of its death first: the server refuses it
    peer.fail_worker(victim.worker_id)
    assert not victim._session.state.lost
    with pytest.raises(WorkerLostError):
        victim.start_work("other")
    assert not raw.sismember(QueueKeys(peer.prefix, "other").workers, victim.worker_id)
    assert peer.get_working_queues(victim.worker_id) == []


def test_worker_that_finds_its_key_gone_stops_and_requeues_its_work(
    victim: Worqr, peer: Worqr, raw: redis.Redis
) -> None:
    peer.enqueue("jobs", ["a", "b"])
    take(victim, "jobs", 1)
    raw.delete(RegistryKeys(victim.prefix).heartbeat(victim.worker_id))
    wait_until(lambda: victim._session.state.lost)
    with pytest.raises(WorkerLostError):
        victim.dequeue("jobs")
    # It marks itself lost first (so that nothing more is taken), then reaps itself.
    wait_until(lambda: peer.get_tasks("jobs") == ["a", "b"])
    wait_until(lambda: victim.worker_id not in peer.get_workers())
    victim.start_worker()
    victim.start_work("jobs")
    process = victim.dequeue("jobs")
    assert process is not None and process.task == "a"


def test_permanent_worker_never_expires(make_worqr: MakeWorqr, peer: Worqr, raw: redis.Redis) -> None:
    permanent = make_worqr(worker_timeout=None, heartbeat_interval=0.05)
    permanent.start_worker()
    assert raw.ttl(RegistryKeys(permanent.prefix).heartbeat(permanent.worker_id)) == -1
    pause_heartbeat(permanent)
    assert peer.cleanup_workers() == []
    assert permanent.worker_id in peer.get_workers()


def test_cleanup_runs_by_itself(make_worqr: MakeWorqr, victim: Worqr, raw: redis.Redis) -> None:
    reaper = make_worqr(heartbeat_interval=0.05, worker_timeout=0.3, cleanup_interval=0.2)
    reaper.start_worker()
    reaper.enqueue("jobs", ["a", "b"])
    take(victim, "jobs", 2)
    expire(victim, raw)
    wait_until(lambda: reaper.get_tasks("jobs") == ["a", "b"])
    assert victim.worker_id not in reaper.get_workers()


def test_racing_reapers_requeue_each_task_once(make_worqr: MakeWorqr, victim: Worqr, raw: redis.Redis) -> None:
    reapers = [make_worqr(**FAST) for _ in range(4)]
    reapers[0].enqueue("jobs", [str(i) for i in range(50)])
    take(victim, "jobs", 30)
    expire(victim, raw)
    reaped: list[list[str]] = []
    barrier = threading.Barrier(len(reapers))

    def run(client: Worqr) -> None:
        barrier.wait()
        reaped.append(client.cleanup_workers())

    threads = [threading.Thread(target=run, args=(c,)) for c in reapers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(w for ids in reaped for w in ids) == [victim.worker_id]
    assert reapers[0].get_tasks("jobs") == [str(i) for i in range(50)]


def test_restarted_worker_with_same_id_requeues_its_old_processes(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    crashed = make_worqr(worker_id="fixed", worker_timeout=None)
    crashed.start_worker()
    crashed.start_work("jobs")
    crashed.enqueue("jobs", ["a", "b"])
    take(crashed, "jobs", 1)
    pause_heartbeat(crashed)  # it "crashes": nothing is released
    crashed._session.state.started = False  # so that close() releases nothing either
    restarted = make_worqr(worker_id="fixed", worker_timeout=None)
    restarted.start_worker()
    assert restarted.get_tasks("jobs") == ["a", "b"]
    assert restarted.get_workers() == ["fixed"]


def test_reaping_resumes_after_a_reaper_dies_half_way(victim: Worqr, peer: Worqr, raw: redis.Redis) -> None:
    from worqr._protocol import flows

    peer.enqueue("jobs", ["a", "b"])
    take(victim, "jobs", 2)
    expire(victim, raw)
    flow = flows.reap(peer._session, [victim.worker_id], force=False)
    batch = next(flow)  # the reaper declares the victim dead ...
    assert isinstance(batch, list)
    flow.send(peer._runner.run(batch))  # ... and dies before requeuing anything
    flow.close()
    assert peer.get_tasks("jobs") == []
    assert peer.cleanup_workers() == [victim.worker_id]
    assert peer.get_tasks("jobs") == ["a", "b"]


def test_a_live_workers_id_cannot_be_taken(make_worqr: MakeWorqr, victim: Worqr) -> None:
    victim.enqueue("jobs", "a")
    take(victim, "jobs", 1)
    impostor = make_worqr(worker_id=victim.worker_id, **FAST)
    with pytest.raises(WorkerIdInUseError):
        impostor.start_worker()
    assert victim.get_tasks("jobs") == []  # the live worker kept its process
    victim.enqueue("jobs", "b")
    assert victim.dequeue("jobs") is not None


def test_restart_under_the_id_of_a_crashed_worker_waits_out_its_lease(make_worqr: MakeWorqr, victim: Worqr) -> None:
    victim.enqueue("jobs", ["a", "b"])
    take(victim, "jobs", 1)
    pause_heartbeat(victim)  # crashed: its lease still runs for up to worker_timeout
    restarted = make_worqr(worker_id=victim.worker_id, **FAST)
    restarted.start_worker()
    restarted.start_work("jobs")
    assert restarted.get_tasks("jobs") == ["a", "b"]
    process = restarted.dequeue("jobs")
    assert process is not None and process.task == "a"


def test_a_worker_that_fenced_itself_starts_again_though_its_own_late_heartbeat_renewed_its_lease(
    make_worqr: MakeWorqr, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain worker that fenced itself (no heartbeat confirmed for worker_timeout) is still
    registered; a heartbeat of its own that was in flight may land late and renew the lease
    while start_worker() waits it out. The id is this client's own: start_worker() must reap
    its earlier incarnation and register again, not raise WorkerIdInUseError (the soak saw a
    plain worker exit so). Here the late heartbeats are renewals of the key by hand."""
    from worqr._protocol.supervision import supervise as real

    gate = threading.Event()
    gate.set()

    def hanging(session: Any, *, cleanup: bool) -> Any:
        gate.wait(30)
        return (yield from real(session, cleanup=cleanup))

    monkeypatch.setattr("worqr._io._sync.supervisor.supervise", hanging)
    client = working_on_jobs(make_worqr)
    client.enqueue("jobs", ["a", "b"])
    take(client, "jobs", 1)
    key = RegistryKeys(client.prefix).heartbeat(client.worker_id)
    stop = threading.Event()

    def renew() -> None:  # its own heartbeats, landing late
        while not stop.wait(0.02):
            raw.pexpire(key, 300)

    renewer = threading.Thread(target=renew)
    renewer.start()
    try:
        gate.clear()  # no heartbeat is confirmed from now on: it fences itself
        wait_until(lambda: client._session.state.lost)
        with pytest.raises(WorkerLostError, match="could not confirm its heartbeat"):
            client.dequeue("jobs")
        client.start_worker()
    finally:
        stop.set()
        renewer.join()
        gate.set()
    client.start_work("jobs")
    assert client.get_tasks("jobs") == ["a", "b"]  # its earlier incarnation's process came back
    assert client.get_workers() == [client.worker_id]


def _one(call: Any) -> Any:
    """A flow of one call, for driving a single step of a reap by hand."""
    return (yield from one(call))


def test_a_slow_reaper_cannot_requeue_the_tasks_of_the_workers_next_incarnation(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    """A peer declares a worker dead and is slow to leave its queues; meanwhile the worker
    finds out, reaps its own earlier incarnation, registers again and takes a task. The
    peer's late leave_queue names the incarnation it declared dead, so it leaves the new
    incarnation's process, and its place in the queue, alone (the soak saw a singleton
    taken from its live holder so, and held twice for 14 s)."""
    worker = working_on_jobs(make_worqr)
    worker.enqueue("jobs", ["a", "b"])
    take(worker, "jobs", 1)
    peer = make_worqr(**FAST)
    declared = peer._drive(_one(registry_ops.declare_dead(peer._session.registry, [worker.worker_id], force=True)))
    ended = declared[worker.worker_id]
    assert ended != ""  # the record names the incarnation declared dead
    wait_until(lambda: worker._session.state.lost)  # its next heartbeat finds it declared dead
    worker.start_worker()  # reaps its earlier incarnation itself ('a' goes back), registers again
    worker.start_work("jobs")
    (held,) = take(worker, "jobs", 1)  # 'a', back at the front
    keys = QueueKeys(worker.prefix, "jobs")
    late = ops.leave_queue(keys, worker.worker_id, interrupted=True, incarnation=ended)
    assert peer._drive(_one(late)) == 0  # the peer's late step of its reap
    assert raw.hlen(keys.processes(worker.worker_id)) == 1
    assert raw.sismember(keys.workers, worker.worker_id)
    worker.finish_process(held)  # still its own
    assert worker.get_tasks("jobs") == ["b"]


def test_a_peer_reaps_an_overdue_worker_at_its_next_heartbeat_not_its_next_sweep(
    make_worqr: MakeWorqr, victim: Worqr, raw: redis.Redis
) -> None:
    """The heartbeat's reply says that a peer's deadline passed: the peer reaps it then,
    although its next sweep (cleanup_interval 60 s) is a minute away."""
    reaper = make_worqr(**FAST)  # cleanup_interval 60 s
    reaper.start_worker()
    reaper.enqueue("jobs", ["a", "b"])
    take(victim, "jobs", 2)
    deadlines = RegistryKeys(victim.prefix).deadlines
    wait_until(lambda: raw.zscore(deadlines, victim.worker_id) is not None)  # its heartbeat records its deadline
    pause_heartbeat(victim)  # frozen: its heartbeat expires after worker_timeout (0.3 s)
    wait_until(lambda: reaper.get_tasks("jobs") == ["a", "b"], timeout=10.0)
    assert victim.worker_id not in reaper.get_workers()
    assert raw.zscore(deadlines, victim.worker_id) is None  # the reap took it off the hint
    assert raw.zscore(deadlines, reaper.worker_id) is not None


def test_a_clobbered_deadlines_hint_never_stops_a_heartbeat(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    client = make_worqr(**FAST)
    raw.set(RegistryKeys(client.prefix).deadlines, "not a zset")
    client.start_worker()
    assert client.cleanup_workers() == []
    assert one_beat(client)
    assert raw.get(RegistryKeys(client.prefix).deadlines) == b"not a zset"


def one_beat(client: Worqr) -> bool:
    from worqr._protocol import flows

    return bool(flows.drive(flows.heartbeat(client._session), client._runner.run))
