"""BullMQ's Python port: ``Queue.add`` with a job id chosen by the caller, and a wait on the
queue's `QueueEvents` for ``completed:<id>`` (the port has no ``Job.waitUntilFinished``;
this is the pattern the Node library's method uses, with the listener registered before the
job is added, so that no ending is missed). One `QueueEvents` per caller process reads the
queue's event stream for every waiting call. The worker runs with concurrency 16."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bullmq import Queue, QueueEvents, Worker

from bench.calls_peers import CALL_TIMEOUT, AsyncCall, CallSystem
from bench.children import Shared, count

QUEUE = "bench-calls"
CONCURRENCY = 16
_counter: Any = None


async def echo(job: Any, _token: str) -> int:
    count(_counter)
    return int(job.data["n"])


def run_worker(url: str, shared: Shared) -> None:
    global _counter  # noqa: PLW0603 (the job runs in this process)
    _counter = shared.counter

    async def work() -> None:
        worker = Worker(QUEUE, echo, {"connection": url, "autorun": False, "concurrency": CONCURRENCY})
        running = asyncio.ensure_future(worker.run())
        shared.ready.release()
        await asyncio.get_running_loop().run_in_executor(None, shared.stop.wait)
        await worker.close()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    asyncio.run(work())


@asynccontextmanager
async def caller(url: str) -> AsyncIterator[AsyncCall]:
    queue = Queue(QUEUE, {"connection": url})
    events = QueueEvents(QUEUE, {"connection": url})
    while not events.running:  # reading the stream from "$": start before the first add
        await asyncio.sleep(0.001)

    async def call(n: int) -> int:
        job_id = uuid.uuid4().hex
        ended: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def completed(args: dict[str, Any], _entry_id: str) -> None:
            if not ended.done():
                ended.set_result(int(args["returnvalue"]))

        def failed(args: dict[str, Any], _entry_id: str) -> None:
            if not ended.done():
                ended.set_exception(RuntimeError(f"job {job_id} failed: {args.get('failedReason')}"))

        events.on(f"completed:{job_id}", completed)
        events.on(f"failed:{job_id}", failed)
        try:
            await queue.add("echo", {"n": n}, {"jobId": job_id, "removeOnComplete": True})
            return await asyncio.wait_for(ended, CALL_TIMEOUT)
        finally:
            events.off(f"completed:{job_id}", completed)
            events.off(f"failed:{job_id}", failed)

    try:
        yield call
    finally:
        await events.close()
        await queue.close()


SYSTEMS = (
    CallSystem(
        name="bullmq",
        distribution="bullmq",
        worker=run_worker,
        setup=f"Queue.add + QueueEvents 'completed:<id>' (Node's waitUntilFinished pattern); Worker(concurrency={CONCURRENCY})",
        async_caller=caller,
    ),
)
