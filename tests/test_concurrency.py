"""Properties 2 and 6: each task goes to exactly one process, with one client shared by threads."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from worqr import Worqr

TASKS = 5000
THREADS = 8


def test_threads_dequeue_each_task_exactly_once(make_worqr: Callable[..., Worqr]) -> None:
    producer = make_worqr()
    producer.enqueue("jobs", [f"task-{i}" for i in range(TASKS)])
    shared = make_worqr()  # one client, shared by every thread
    shared.start_worker()
    shared.start_work("jobs")
    finished: list[list[str]] = [[] for _ in range(THREADS)]
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def drain(slot: int) -> None:
        try:
            start.wait()
            while (process := shared.dequeue("jobs")) is not None:
                shared.finish_process(process.id)
                finished[slot].append(process.task)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert failures == []
    counts = Counter(task for tasks in finished for task in tasks)
    assert len(counts) == TASKS
    assert set(counts.values()) == {1}
    assert sum(1 for tasks in finished if tasks) > 1, "the threads really ran concurrently"
    assert producer.count_queue("jobs") == 0
    assert producer.get_matching_processes("task-0") == []
