"""The runtime layer: workers that run handlers on the tasks of queues.

- `options`: the options a worker takes (`WorkerOptions`, `Backoff`) and the `Settings` it
  runs with; `cancel`: the `CancelToken` a handler is told to stop by; `jobs`: the life of
  one job and the bookkeeping of all of them; `outcomes`: every decision about a job's
  outcome, as a flow; `rounds`: one round of the loop both workers share; `stats`: counters
  and log fields; `hosting`: what differs between the threaded and the asyncio worker;
- ``_async/worker.py``: `AsyncWorker`, written once; ``_sync/worker.py``: `Worker`, its
  threaded twin, generated from it (``tools/unasync.py``).

May import ``worqr._protocol`` and ``worqr._io``. A worker reaches its client only through
its host (`AsyncHost`: the client's core), never through the face or a private member.
"""
