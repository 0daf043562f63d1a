"""The raw ceiling of a call: the least RPC over Redis lists, written by hand with redis-py.

The caller ``LPUSH``es a request carrying a reply key (``<reply key>\\n<n>``), then
``BLPOP``s the reply key. A worker process, ``WORKER_THREADS`` threads each blocked in
``BLPOP`` on the request list, ``LPUSH``es the answer on the request's reply key. Two round
trips a side, no record, no retry, no acknowledgement: nothing survives a crash.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import redis

from bench.calls_peers import CALL_TIMEOUT, CallSystem, SyncCall
from bench.children import Shared, count

REQUESTS = "rawrpc:requests"
#: Threads of the worker process, each with its own connection (redis-py's pool).
WORKER_THREADS = 16
#: How long a worker thread blocks before it looks at the stop flag again.
BLOCK_SECONDS = 0.5


def run_worker(url: str, shared: Shared) -> None:
    client = redis.Redis.from_url(url)
    counter = shared.counter

    def serve() -> None:
        while not shared.stop.is_set():
            popped = client.blpop([REQUESTS], BLOCK_SECONDS)
            if popped is None:
                continue
            reply_key, _, n = cast("bytes", popped[1]).partition(b"\n")
            count(counter)
            client.lpush(reply_key, n)

    threads = [threading.Thread(target=serve, name=f"raw-{i}", daemon=True) for i in range(WORKER_THREADS)]
    client.ping()  # connect before the start line
    shared.ready.release()
    shared.go.wait()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()


@contextmanager
def caller(url: str) -> Iterator[SyncCall]:
    client = redis.Redis.from_url(url)
    serial = itertools.count()
    pid = os.getpid()

    def call(n: int) -> int:
        reply_key = f"rawrpc:reply:{pid}:{next(serial)}"
        client.lpush(REQUESTS, f"{reply_key}\n{n}")
        popped = client.blpop([reply_key], CALL_TIMEOUT)
        if popped is None:
            msg = f"no reply to the raw call of {n} within {CALL_TIMEOUT} s"
            raise TimeoutError(msg)
        return int(popped[1])

    try:
        yield call
    finally:
        client.close()


SYSTEMS = (
    CallSystem(
        name="raw redis-py RPC",
        distribution=None,
        worker=run_worker,
        setup=f"LPUSH request + BLPOP reply key; worker: {WORKER_THREADS} threads, each BLPOP then LPUSH",
        sync_caller=caller,
    ),
)
