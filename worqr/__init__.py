"""worqr: a typed, distributed work queue on Redis, with peer supervision.

Layout: `_keys` names every key; `lua/` holds one script per state change; `_ops` describes
each call (script, keys, arguments, reply); `_flows` writes each operation once as a
generator of calls; `_runner` executes calls (sync and asyncio) on one server, `_cluster`
routes them over a Redis Cluster's nodes, `_connect` picks the backend (server, Sentinel,
Cluster) and `_durability` the replica waits; `Worqr` and `AsyncWorqr` are thin faces over
the flows; `_supervisor` (heartbeat, reaper) and `_listener` (events) are the background
loops; `_runtime`, `_worker` and `_async_worker` run handlers. This module re-exports the
public API.
"""

import logging

from worqr._async_client import AsyncQueue, AsyncWorqr
from worqr._async_worker import AsyncWorker
from worqr._client import Queue, Worqr
from worqr._io.durability import Durability
from worqr._protocol.codec import BytesCodec, Codec, JsonCodec, StrCodec
from worqr._protocol.models import DeadLetter, Event, EventType, Failure, Process
from worqr._runtime import (
    Backoff,
    CancelToken,
    PersistentOptions,
    WorkerOptions,
    WorkerStats,
    cancel_token,
)
from worqr._worker import Worker
from worqr.errors import (
    ClientClosedError,
    CodecError,
    DuplicateTaskError,
    InvalidArgumentError,
    InvalidNameError,
    InvalidProcessIdError,
    InvalidTaskTypeError,
    NotWorkingError,
    PayloadTooLargeError,
    ProcessLostError,
    RedisCommandError,
    RedisPermissionError,
    RedisUnavailableError,
    ReplicationTimeoutError,
    TaskCancelledError,
    WorkerIdInUseError,
    WorkerLostError,
    WorkerNotStartedError,
    WorqrError,
)

__version__ = "0.1.0"

# A library leaves logging to the application; without this, warnings would reach stderr
# through logging.lastResort in programs that never configured logging.
logging.getLogger("worqr").addHandler(logging.NullHandler())

__all__ = [
    "AsyncQueue",
    "AsyncWorker",
    "AsyncWorqr",
    "Backoff",
    "BytesCodec",
    "CancelToken",
    "ClientClosedError",
    "Codec",
    "CodecError",
    "DeadLetter",
    "DuplicateTaskError",
    "Durability",
    "Event",
    "EventType",
    "Failure",
    "InvalidArgumentError",
    "InvalidNameError",
    "InvalidProcessIdError",
    "InvalidTaskTypeError",
    "JsonCodec",
    "NotWorkingError",
    "PayloadTooLargeError",
    "PersistentOptions",
    "Process",
    "ProcessLostError",
    "Queue",
    "RedisCommandError",
    "RedisPermissionError",
    "RedisUnavailableError",
    "ReplicationTimeoutError",
    "StrCodec",
    "TaskCancelledError",
    "Worker",
    "WorkerIdInUseError",
    "WorkerLostError",
    "WorkerNotStartedError",
    "WorkerOptions",
    "WorkerStats",
    "Worqr",
    "WorqrError",
    "__version__",
    "cancel_token",
]
