"""A worker OS process driven by the scenario tests.

python child_worker.py drain URL PREFIX QUEUE WORKER_ID
    print "ready", wait for a line on stdin, drain the queue; print "done <task>" for
    every accepted finish, then "drained".
python child_worker.py hold URL PREFIX QUEUE WORKER_ID
    take one task, print "holding <process id>", wait for a line on stdin, then try to
    finish it and to dequeue again, printing what happened ("finish: ok" or
    "finish: ProcessLostError", "dequeue: ..."). Used to play a zombie.
"""

from __future__ import annotations

import sys

from worqr import ProcessLostError, WorkerLostError, Worqr


def main() -> int:
    mode, url, prefix, queue, worker_id = sys.argv[1:6]
    wq = Worqr(
        redis=url, prefix=prefix, worker_id=worker_id, heartbeat_interval=0.1, worker_timeout=0.6, cleanup_interval=0.5
    )
    wq.start_worker()
    wq.start_work(queue)
    print("ready", flush=True)
    if mode == "drain":
        sys.stdin.readline()
        while (process := wq.dequeue(queue)) is not None:
            wq.finish_process(process.id)
            print("done", process.task, flush=True)
        print("drained", flush=True)
        wq.close()
        return 0
    process = wq.dequeue(queue)
    assert process is not None
    print("holding", process.id, flush=True)
    sys.stdin.readline()
    try:
        wq.finish_process(process.id)
        print("finish: ok", flush=True)
    except ProcessLostError:
        print("finish: ProcessLostError", flush=True)
    try:
        wq.dequeue(queue)
        print("dequeue: ok", flush=True)
    except WorkerLostError:
        print("dequeue: WorkerLostError", flush=True)
    wq.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
