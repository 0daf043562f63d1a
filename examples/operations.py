"""Operations: what people on call read, from Python. A worker drains a queue and fails one
task into the dead letters; then the fleet is inspected (queues with their exact counters,
workers, tasks in flight), the dead letter requeued, and the same numbers read as
Prometheus metrics (the `metrics` extra, installed with the test extra).

    python examples/operations.py

The `worqr` command line shows the same: `worqr status`, `worqr dead requeue mail`,
`worqr metrics --port 9809`. Uses the server at WORQR_REDIS_URL if set, else starts a
private one.
"""

from __future__ import annotations

import uuid

from prometheus_client import CollectorRegistry

from worqr import Worqr
from worqr.metrics.prometheus import WorqrCollector
from worqr.testing import server_url

with server_url() as url, Worqr(redis=url, prefix=f"ops-{uuid.uuid4().hex[:8]}") as wq:
    wq.enqueue("mail", ["to ann", "to bob", "to cy", "to dee"])
    wq.start_worker()
    wq.start_work("mail")
    for _ in range(2):
        done = wq.dequeue("mail")
        if done is None:
            raise SystemExit("expected a task")
        wq.finish_process(done.id)
    failing = wq.dequeue("mail")
    held = wq.dequeue("mail")
    if failing is None or held is None:
        raise SystemExit("expected two more tasks")
    wq.fail_process(failing.id, ConnectionError("smtp down"), max_attempts=1)

    (mail,) = wq.inspect_queues(["mail"])
    (me,) = wq.inspect_workers()
    (running,) = wq.inspect_processes("mail")
    print(
        f"mail: {mail.queued} queued, {mail.in_flight} in flight, {mail.dead_letters} dead; "
        f"counters enqueued={mail.counters.enqueued} finished={mail.counters.finished} "
        f"dead_lettered={mail.counters.dead_lettered}"
    )
    print(
        f"worker {me.state}, {me.in_flight} in flight; running {running.task.decode()!r} on attempt {running.attempt}"
    )

    requeued = wq.requeue_dead_letters("mail")
    registry = CollectorRegistry()
    registry.register(WorqrCollector(wq))
    queued = registry.get_sample_value("worqr_queue_tasks", {"queue": "mail", "state": "queued"})
    requeued_total = registry.get_sample_value("worqr_tasks_total", {"queue": "mail", "outcome": "requeued"})
    print(f"operations: requeued {requeued}; metrics say {queued:.0f} queued, {requeued_total:.0f} requeued in all")
