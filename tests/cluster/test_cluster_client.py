"""`Worqr` on a real local Redis Cluster (three primaries, one replica each): the core
operations, events, cross-shard reads and reaping, the runtime worker, and the cluster's own
events: a slot moved live, a redirect mid-migration, a shard briefly down, a primary failed
over in the middle of a drain."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from tenacity import stop_after_delay

from tests.acl_helpers import acl_for
from tests.cluster.conftest import MakeWorqr, owners, queues_per_primary, spread_queues
from tests.helpers import pause_heartbeat, wait_until
from worqr import Durability, Event, Process, Worqr
from worqr._io.cluster.routing import slot_of
from worqr._io.retry import CLUSTER_POLICY
from worqr._io.urls import parse_cluster_url
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr.errors import DuplicateTaskError, RedisUnavailableError
from worqr.testing import LocalCluster, LocalClusterNode


def node_client(node: LocalClusterNode) -> redis.Redis:
    return node.client(socket_timeout=5)


def llen_on(node: LocalClusterNode, key: str) -> int:
    with node_client(node) as client:
        return int(client.llen(key))


def dequeue_when_due(worker: Worqr, queue: str, timeout: float = 5.0) -> Process[str]:
    """The next task of ``queue``, polled for until a delayed one is due (a dequeue promotes it)."""
    deadline = time.monotonic() + timeout
    while (process := worker.dequeue(queue)) is None:
        assert time.monotonic() < deadline, f"nothing became due on {queue!r} within {timeout} s"
        time.sleep(0.02)
    return process


# The core scenarios ---------------------------------------------------------------------


def test_queues_spread_over_all_three_primaries_and_each_holds_its_own_tasks(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    wq = make_cluster_worqr()
    by_primary = queues_per_primary(local_cluster, worqr_prefix, per_primary=2)
    assert len(by_primary) == 3
    for names in by_primary.values():
        for i, name in enumerate(names):
            assert wq.enqueue(name, [f"{name}-{n}" for n in range(i + 1)]) == i + 1
    for port, names in by_primary.items():
        node = next(n for n in local_cluster.primaries() if n.port == port)
        assert [llen_on(node, QueueKeys(worqr_prefix, name).pending) for name in names] == [1, 2]
    assert wq.get_queues() == sorted(name for names in by_primary.values() for name in names)


def test_enqueue_dequeue_finish_stop_and_cancel_on_queues_of_every_shard(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    wq, worker = make_cluster_worqr(), make_cluster_worqr()
    worker.start_worker()
    for queue in spread_queues(local_cluster, worqr_prefix):
        wq.enqueue(queue, ["a", "b", "c", "a"])
        worker.start_work(queue)
        first = worker.dequeue(queue)
        assert first is not None and first.task == "a"
        worker.finish_process(first.id, {"done": True})
        second = worker.dequeue(queue)
        assert second is not None and second.task == "b"
        worker.stop_process(second.id)
        assert wq.get_tasks(queue) == ["b", "c", "a"]
        assert wq.cancel_tasks(queue, "a") == 1
        assert (wq.count_queue(queue), wq.peek_queue(queue)) == (2, "b")


def test_unique_delayed_and_dead_letters_on_a_cluster(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    wq, worker = make_cluster_worqr(), make_cluster_worqr()
    worker.start_worker()
    for queue in spread_queues(local_cluster, worqr_prefix):
        wq.enqueue(queue, "only", unique=True)
        with pytest.raises(DuplicateTaskError):
            wq.enqueue(queue, "only", unique=True)
        wq.enqueue(queue, "later", delay=0.2)
        assert (wq.count_queue(queue), wq.count_delayed(queue)) == (1, 1)
        worker.start_work(queue)
        process = worker.dequeue(queue)
        assert process is not None
        failure = worker.fail_process(process.id, "boom", max_attempts=1)
        assert failure.dead_letter_id is not None
        (letter,) = wq.get_dead_letters(queue)
        assert (letter.task, letter.error, letter.attempts) == ("only", "boom", 1)
        assert wq.requeue_dead_letters(queue) == 1
        assert wq.get_tasks(queue) == ["only"]
        again = worker.dequeue(queue)
        assert again is not None and again.task == "only"
        worker.finish_process(again.id)
        assert dequeue_when_due(worker, queue).task == "later"


def test_events_of_queues_on_every_shard_reach_their_subscribers_done_included(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    wq, worker = make_cluster_worqr(), make_cluster_worqr()
    queues = spread_queues(local_cluster, worqr_prefix)
    heard: list[Event] = []
    for queue in queues:
        wq.on(queue, heard.append)
    worker.start_worker()
    for queue in queues:
        wq.enqueue(queue, f"task of {queue}")
        worker.start_work(queue)
        process = worker.dequeue(queue)
        assert process is not None
        worker.finish_process(process.id, 42)
    wait_until(lambda: sum(e.type == "done" for e in heard) == len(queues), timeout=5)
    assert {(e.queue, e.type) for e in heard} == {(q, kind) for q in queues for kind in ("work", "done")}
    assert all('"result": 42' in e.message for e in heard if e.type == "done")


def test_cross_shard_reads_see_queues_workers_and_processes_on_every_shard(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    wq, first, second = make_cluster_worqr(), make_cluster_worqr(), make_cluster_worqr()
    queues = spread_queues(local_cluster, worqr_prefix)
    held = []
    for worker in (first, second):
        worker.start_worker()
        for queue in queues:
            wq.enqueue(queue, "same task")
            worker.start_work(queue)
            process = worker.dequeue(queue)
            assert process is not None
            held.append(process.id)
    assert wq.get_workers() == sorted([first.worker_id, second.worker_id])
    assert wq.get_matching_processes("same task") == sorted(held)
    assert first.get_working_queues() == sorted(queues)
    assert wq.get_queues() == sorted(queues)


def test_a_worker_on_three_shards_is_reaped_by_a_peer_and_its_tasks_go_back_in_order(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    wq, doomed, peer = make_cluster_worqr(), make_cluster_worqr(), make_cluster_worqr()
    queues = spread_queues(local_cluster, worqr_prefix)
    doomed.start_worker()
    for queue in queues:
        wq.enqueue(queue, ["1", "2", "3"])
        doomed.start_work(queue)
        assert [doomed.dequeue(queue) is not None for _ in range(2)] == [True, True]
    peer.fail_worker(doomed.worker_id)
    assert [wq.get_tasks(queue) for queue in queues] == [["1", "2", "3"]] * 3
    assert doomed.worker_id not in wq.get_workers()
    assert wq.get_matching_processes("1") == []


def test_without_sharded_pub_sub_events_go_by_plain_pub_sub_to_one_node(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    """The path for servers older than Redis 7 (no SSUBSCRIBE/SPUBLISH), which the test
    servers are not: the client is told before it connects that they lack sharded pub/sub,
    so the scripts PUBLISH (heard on every node) and the listener subscribes on one node."""
    wq = make_cluster_worqr()
    wq._runner.topology.sharded = False  # type: ignore[union-attr]
    queues = spread_queues(local_cluster, worqr_prefix)
    heard: list[Event] = []
    for queue in queues:
        wq.on(queue, heard.append)
    for queue in queues:
        wq.enqueue(queue, ["a", "b"])
    wait_until(lambda: len(heard) == len(queues), timeout=5)
    assert sorted((e.queue, e.type, e.message) for e in heard) == [(q, "work", "2") for q in sorted(queues)]
    channels = [QueueKeys(worqr_prefix, q).channel for q in queues]
    plain, sharded = Counter[str](), Counter[str]()
    for node in local_cluster.primaries():
        with node_client(node) as client:
            plain.update({channel.decode(): int(n) for channel, n in client.pubsub_numsub(*channels)})
            sharded.update({channel.decode(): int(n) for channel, n in client.pubsub_shardnumsub(*channels)})
    assert (plain, sharded) == (Counter(dict.fromkeys(channels, 1)), Counter(dict.fromkeys(channels, 0)))


def test_the_runtime_worker_drains_queues_on_all_shards(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    wq, client = make_cluster_worqr(), make_cluster_worqr()
    queues = spread_queues(local_cluster, worqr_prefix, per_primary=2)
    done: Counter[str] = Counter()
    lock = threading.Lock()

    def handle(process: Process[str]) -> None:
        with lock:
            done[process.task] += 1

    tasks = {queue: [f"{queue}:{n}" for n in range(40)] for queue in queues}
    worker = client.worker(queues, handle, concurrency=4)
    worker.start()
    try:
        for queue, batch in tasks.items():
            wq.enqueue(queue, batch)
        wait_until(lambda: sum(done.values()) == 40 * len(queues), timeout=20)
    finally:
        worker.stop()
    assert done == Counter(task for batch in tasks.values() for task in batch)
    assert [wq.count_queue(queue) for queue in queues] == [0] * len(queues)


# Connecting ---------------------------------------------------------------------------


def test_a_redis_cluster_client_works_like_a_url(local_cluster: LocalCluster, worqr_prefix: str) -> None:
    client = local_cluster.client()
    with Worqr(redis=client, prefix=worqr_prefix) as wq:
        queues = spread_queues(local_cluster, worqr_prefix)
        for queue in queues:
            wq.enqueue(queue, "x")
        assert wq.get_queues() == sorted(queues)
    assert client.ping()  # worqr leaves a client it was given open


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("redis+cluster://", "it names no node"),
        ("redis+cluster://127.0.0.1:0", "no valid port"),
        ("redis+cluster://127.0.0.1:99999", "no valid port"),
        ("redis+cluster://:7000", "has no host"),
        ("redis+cluster://127.0.0.1:7000/1", "only database 0"),
        ("redis+cluster://127.0.0.1:7000?db=0&bogus=1", "unknown option(s) bogus"),
        ("redis+cluster://u:secret@127.0.0.1:7000/2", "***@"),
    ],
)
def test_bad_cluster_urls_are_refused_before_connecting(url: str, words: str) -> None:
    with pytest.raises(ValueError, match="bad Redis Cluster URL") as raised:
        Worqr(redis=url)
    assert words in str(raised.value)
    assert "secret" not in str(raised.value)


def test_a_cluster_url_carries_nodes_credentials_tls_and_options() -> None:
    parsed = parse_cluster_url(
        "rediss+cluster://app:s%40cret@10.0.0.1:7000,[::1]:7001,node3?socket_timeout=2.5&ssl_cert_reqs=none"
    )
    assert parsed.nodes == [("10.0.0.1", 7000), ("::1", 7001), ("node3", 6379)]
    assert parsed.connection == {
        "username": "app", "password": "s@cret", "socket_timeout": 2.5, "ssl_cert_reqs": "none", "ssl": True
    }  # fmt: skip
    assert parsed.where(tls=True) == "rediss+cluster://10.0.0.1:7000,[::1]:7001,node3:6379"


def test_the_asyncio_cluster_client_is_refused_by_worqr(local_cluster: LocalCluster) -> None:
    import redis.asyncio.cluster

    client = redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=local_cluster.startup_nodes[0][1])
    with pytest.raises(ValueError, match=r"use AsyncWorqr"):
        Worqr(redis=client)  # type: ignore[arg-type]


def test_a_cluster_url_to_a_plain_server_says_it_is_not_a_cluster(redis_url: str) -> None:
    port = int(redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    with (
        Worqr(redis=f"redis+cluster://127.0.0.1:{port}") as wq,
        pytest.raises(Exception, match="not a Redis Cluster node") as raised,
    ):
        wq.count_queue("jobs")
    assert "redis://" in str(raised.value)


def documented_cluster_rules() -> list[str]:
    """The rules docs/security.md says to add on a Redis Cluster."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text(encoding="utf-8")
    found = re.search(r"On a Redis Cluster.*?add to both: `([^`]+)`", text, re.DOTALL)
    assert found is not None, "docs/security.md names no rules to add on a Redis Cluster"
    return found.group(1).split()


def test_a_producer_and_a_worker_work_with_the_documented_acls_plus_the_cluster_rules(
    local_cluster: LocalCluster, worqr_prefix: str
) -> None:
    names = {role: f"{worqr_prefix}-{role}" for role in ("producer", "worker")}
    for node in local_cluster.nodes:
        with node_client(node) as admin:
            for role, name in names.items():
                rules = [*acl_for(role, worqr_prefix, f"pw-{role}"), *documented_cluster_rules()]
                admin.execute_command("ACL", "SETUSER", name, "reset", *rules)
    hosts = ",".join(f"{host}:{port}" for host, port in local_cluster.startup_nodes)
    try:
        with (
            Worqr(redis=f"redis+cluster://{names['producer']}:pw-producer@{hosts}", prefix=worqr_prefix) as producer,
            Worqr(redis=f"redis+cluster://{names['worker']}:pw-worker@{hosts}", prefix=worqr_prefix) as worker,
        ):
            queues = spread_queues(local_cluster, worqr_prefix)
            heard: list[Event] = []
            worker.start_worker()
            for queue in queues:
                producer.on(queue, heard.append)
                producer.enqueue(queue, ["a", "b"])
                worker.start_work(queue)
                process = worker.dequeue(queue)
                assert process is not None
                worker.finish_process(process.id)
            wait_until(lambda: sum(e.type == "done" for e in heard) == len(queues), timeout=5)
            assert producer.get_matching_processes("a") == []
        denied = []
        for node in local_cluster.nodes:
            with node_client(node) as admin:
                for entry in admin.acl_log():
                    if entry["username"] in names.values() and entry["object"] != "client|setinfo":
                        denied.append(f"{entry['username']}: {entry['object']}")
        assert denied == []
    finally:
        for node in local_cluster.nodes:
            with node_client(node) as admin:
                admin.execute_command("ACL", "DELUSER", *names.values())


# The cluster's own events ---------------------------------------------------------------


def test_events_and_calls_follow_a_queue_whose_slot_moves_live(
    make_local_cluster: Callable[..., LocalCluster], worqr_prefix: str
) -> None:
    cluster = make_local_cluster(replicas=0)
    with Worqr(redis=cluster.url, prefix=worqr_prefix) as wq, Worqr(redis=cluster.url, prefix=worqr_prefix) as worker:
        (queue,) = spread_queues(cluster, worqr_prefix)[:1]
        heard: list[Event] = []
        wq.on(queue, heard.append)
        worker.start_worker()
        worker.start_work(queue)
        wq.enqueue(queue, "before")
        wait_until(lambda: [e.message for e in heard if e.type == "work"] == ["1"], timeout=5)
        slot = slot_of(QueueKeys(worqr_prefix, queue).pending)
        source = cluster.owner_of(slot)
        target = next(node for node in cluster.primaries() if node is not source)
        cluster.move_slot(slot, target)
        assert llen_on(target, QueueKeys(worqr_prefix, queue).pending) == 1
        wq.enqueue(queue, "after")  # a MOVED reply, followed
        wait_until(lambda: [e.message for e in heard if e.type == "work"][-1:] == ["2"], timeout=10)
        process = worker.dequeue(queue)
        assert process is not None and process.task == "before"
        worker.finish_process(process.id)
        wait_until(lambda: any(e.type == "done" for e in heard), timeout=10)
        assert wq.get_tasks(queue) == ["after"]


def test_a_call_during_a_slot_migration_follows_ask_and_waits_out_tryagain(
    make_local_cluster: Callable[..., LocalCluster], worqr_prefix: str
) -> None:
    cluster = make_local_cluster(replicas=0)
    with Worqr(redis=cluster.url, prefix=worqr_prefix) as wq:
        (queue,) = spread_queues(cluster, worqr_prefix)[:1]
        keys = QueueKeys(worqr_prefix, queue)
        wq.enqueue(queue, ["a", "b"])
        slot = slot_of(keys.pending)
        source = cluster.owner_of(slot)
        target = next(node for node in cluster.primaries() if node is not source)
        with node_client(source) as src, node_client(target) as dst:
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src.execute_command("CLUSTER", "MYID"))
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst.execute_command("CLUSTER", "MYID"))
            while moving := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *moving)
            assert wq.count_queue(queue) == 2  # the queue's keys are on the target now: ASK, then ASKING there

            def finish_migration() -> None:
                time.sleep(0.5)
                for node in cluster.primaries():
                    with node_client(node) as client:
                        client.execute_command(
                            "CLUSTER", "SETSLOT", slot, "NODE", dst.execute_command("CLUSTER", "MYID")
                        )

            finishing = threading.Thread(target=finish_migration)
            finishing.start()
            started = time.monotonic()
            assert wq.enqueue(queue, "c") == 1  # keys on both nodes: TRYAGAIN until the slot moved
            finishing.join()
        assert time.monotonic() - started >= 0.4
        assert wq.get_tasks(queue) == ["a", "b", "c"]


def test_a_reap_stopped_by_an_unreachable_shard_resumes_once_it_is_back(
    make_local_cluster: Callable[..., LocalCluster], worqr_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No replicas and a long node timeout: the killed primary's slots stay its own (no
    # failover, no CLUSTERDOWN); its data survives the restart (AOF, fsync always).
    cluster = make_local_cluster(
        replicas=0, node_timeout_ms=60_000, extra_args=["--appendonly", "yes", "--appendfsync", "always"]
    )
    monkeypatch.setitem(CLUSTER_POLICY, "stop", stop_after_delay(1.0))  # give up on the dead shard sooner
    registry = RegistryKeys(worqr_prefix)
    registry_node = owners(cluster)[slot_of(registry.workers)]
    by_primary = queues_per_primary(cluster, worqr_prefix)
    (down,) = [node for node in cluster.primaries() if node is not registry_node][:1]
    with Worqr(redis=cluster.url, prefix=worqr_prefix) as peer, Worqr(redis=cluster.url, prefix=worqr_prefix) as doomed:
        doomed.start_worker()
        queues = [name for names in by_primary.values() for name in names]
        for queue in queues:
            peer.enqueue(queue, ["1", "2"])
            doomed.start_work(queue)
            assert doomed.dequeue(queue) is not None
        pause_heartbeat(doomed)  # a frozen worker
        down.server.stop()
        with pytest.raises(RedisUnavailableError):
            peer.fail_worker(doomed.worker_id)
        with node_client(registry_node) as client:
            assert client.smembers(registry.reaping) == {doomed.worker_id.encode()}
        reachable = [q for q in queues if q not in by_primary[down.port]]
        assert [peer.get_tasks(q) for q in reachable] == [["1", "2"]] * len(reachable)
        cluster.restart(down)
        assert peer.cleanup_workers() == [doomed.worker_id]  # the reaping set resumes it
        assert [peer.get_tasks(q) for q in queues] == [["1", "2"]] * len(queues)
        assert peer.get_workers() == []
        doomed._session.state.mark_lost()  # do not let close() reap it a second time


def test_a_primary_failed_over_mid_drain_loses_no_replicated_task_and_events_flow_again(
    make_local_cluster: Callable[..., LocalCluster], worqr_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tasks enqueued with durable writes (replicated before the enqueue returns) are never
    lost when a primary dies; the drain's own writes are not waited for, so a dequeue or
    finish the old primary acknowledged but had not replicated makes a task run again. Both
    are counted and reported; a lost task fails the test."""
    cluster = make_local_cluster()
    registry_node = owners(cluster)[slot_of(RegistryKeys(worqr_prefix).workers)]
    victim = next(node for node in cluster.primaries() if node is not registry_node)
    by_primary = queues_per_primary(cluster, worqr_prefix, per_primary=3)
    watched = by_primary[victim.port].pop()  # nobody works on it: its events are only heard
    queues = [name for names in by_primary.values() for name in names]
    tasks = [f"{queue}:{n}" for queue in queues for n in range(150)]
    handled: Counter[str] = Counter()
    lock = threading.Lock()

    def handle(process: Process[str]) -> None:
        time.sleep(0.002)
        with lock:
            handled[process.task] += 1

    durable = Durability(replicas=1, timeout=5.0)
    with (
        Worqr(redis=cluster.url, prefix=worqr_prefix, durability=durable) as producer,
        Worqr(redis=cluster.url, prefix=worqr_prefix, worker_timeout=10.0) as client,
    ):
        heard: list[Event] = []
        producer.on(watched, heard.append)
        producer.enqueue(watched, ["w"] * 5)
        for queue in queues:
            producer.enqueue(queue, [t for t in tasks if t.startswith(f"{queue}:")])
        worker = client.worker(queues, handle, concurrency=4)
        worker.start()
        try:
            wait_until(lambda: sum(handled.values()) >= len(tasks) // 4, timeout=20)
            killed = time.monotonic()
            cluster.fail_over(victim)
            before = len(heard)

            def published_event_heard() -> bool:
                # A published event says "1" (one task); the listener's own check after it
                # subscribes again counts all the waiting tasks (6 or more).
                client.enqueue(watched, "w")  # not durable: the shard has no replica left
                time.sleep(0.1)
                return any(e.type == "work" and e.message == "1" for e in heard[before:])

            wait_until(published_event_heard, timeout=15)
            deadline = killed + 30
            while not all(handled[t] for t in tasks) and time.monotonic() < deadline:
                time.sleep(0.05)  # polled, then reported below whatever the outcome
            drained = time.monotonic() - killed
        finally:
            worker.stop()
        leftover = Counter(t for q in queues for t in producer.get_tasks(q))  # given back by the stop
    lost = [t for t in tasks if handled[t] == 0 and leftover[t] == 0]
    again = [t for t in tasks if handled[t] > 1]
    with capsys.disabled():
        print(
            f"\nfailover mid-drain: {len(tasks)} tasks, lost {len(lost)}, run twice {len(again)}, "
            f"given back {sum(leftover.values())}, drained {drained:.1f} s after the kill"
        )
    assert lost == []
    assert all(handled[t] for t in tasks)
