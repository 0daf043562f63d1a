"""worqr: a typed, distributed work queue on Redis, with peer supervision.

Layout, one folder a layer (docs/index.md draws it):

- ``_protocol/``: what worqr says to Redis, with no I/O: keys, checks, codecs, the calls
  (``ops``) and every operation written once as a flow; the Lua scripts are in ``lua/``;
- ``_io/``: the runners that send calls (one server, Sentinel, Cluster), the listener,
  the heartbeat and reaper, and a client's core; each written once for asyncio, with a
  generated threaded twin in ``_sync`` folders;
- ``_runtime/``: the workers that run handlers (`Worker`, `AsyncWorker`);
- the faces: `Worqr` and `AsyncWorqr` (``_client``, ``_async_client``), tables of one-line
  methods over the flows; ``errors``, ``testing`` and ``pytest_plugin`` are public too;
- ``calls/``: calls of registered functions (`Functions`, `Call`), the same layers again:
  pure descriptions and flows, the I/O of waiting in ``_async``/``_sync``, serving on the
  runtime, and the face methods the clients take from it;
- ``leases/``: leases with fencing tokens and leader election (`Lease`, `Term`,
  `Leadership`), the same layers;
- ``schedules/``: periodic schedules fired by the runtime workers (`Schedule`), the same
  layers;
- ``streams/``: ordered message streams with durable consumer groups (`Stream`,
  `Subscription`, `Message`), the same layers;
- ``channels/``: two-way channels between two peers over streams and leases (`Channel`).

This module re-exports the public API.
"""

import logging

from worqr._async_client import AsyncWorqr
from worqr._async_queue_client import AsyncQueue
from worqr._client import Worqr
from worqr._io.durability import Durability
from worqr._protocol.codec import BytesCodec, Codec, JsonCodec, StrCodec
from worqr._protocol.models import DeadLetter, Event, EventType, Failure, Process
from worqr._protocol.version import VERSION
from worqr._queue_client import Queue
from worqr._runtime._async.worker import AsyncWorker
from worqr._runtime._sync.worker import Worker
from worqr._runtime.cancel import CancelToken, cancel_token
from worqr._runtime.options import Backoff, PersistentOptions, WorkerOptions
from worqr._runtime.stats import WorkerStats
from worqr.calls._async.calls import AsyncCall
from worqr.calls._sync.calls import Call
from worqr.calls.registry import Function, Functions
from worqr.calls.serving import CurrentCall, current_call
from worqr.calls.status import CallState, CallStatus
from worqr.channels._async.channels import AsyncChannel
from worqr.channels._sync.channels import Channel
from worqr.channels.frames import ChannelEvent, ChannelMessage, ChannelNotice
from worqr.errors import (
    CallCancelledError,
    CallFailedError,
    CallNotFoundError,
    CallTimeoutError,
    ChannelBusyError,
    ChannelNotConnectedError,
    ClientClosedError,
    CodecError,
    DuplicateTaskError,
    GroupNotFoundError,
    InvalidArgumentError,
    InvalidNameError,
    InvalidProcessIdError,
    InvalidTaskTypeError,
    LeaseTimeoutError,
    MessageNotFoundError,
    NotWorkingError,
    PartialReadError,
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
from worqr.leases._async.leadership import AsyncLeadership
from worqr.leases._async.leases import AsyncLease, AsyncTerm
from worqr.leases._sync.leadership import Leadership
from worqr.leases._sync.leases import Lease, Term
from worqr.schedules.records import Schedule
from worqr.streams._async.streams import AsyncStream
from worqr.streams._async.subscriptions import AsyncMessage, AsyncSubscription
from worqr.streams._sync.streams import Stream
from worqr.streams._sync.subscriptions import Message, Subscription
from worqr.streams.messages import GroupInfo, PendingMessage, StreamDeadLetter, StreamInfo, StreamMessage

__version__ = VERSION

# A library leaves logging to the application; without this, warnings would reach stderr
# through logging.lastResort in programs that never configured logging.
logging.getLogger("worqr").addHandler(logging.NullHandler())

__all__ = [
    "AsyncCall",
    "AsyncChannel",
    "AsyncLeadership",
    "AsyncLease",
    "AsyncMessage",
    "AsyncQueue",
    "AsyncStream",
    "AsyncSubscription",
    "AsyncTerm",
    "AsyncWorker",
    "AsyncWorqr",
    "Backoff",
    "BytesCodec",
    "Call",
    "CallCancelledError",
    "CallFailedError",
    "CallNotFoundError",
    "CallState",
    "CallStatus",
    "CallTimeoutError",
    "CancelToken",
    "Channel",
    "ChannelBusyError",
    "ChannelEvent",
    "ChannelMessage",
    "ChannelNotConnectedError",
    "ChannelNotice",
    "ClientClosedError",
    "Codec",
    "CodecError",
    "CurrentCall",
    "DeadLetter",
    "DuplicateTaskError",
    "Durability",
    "Event",
    "EventType",
    "Failure",
    "Function",
    "Functions",
    "GroupInfo",
    "GroupNotFoundError",
    "InvalidArgumentError",
    "InvalidNameError",
    "InvalidProcessIdError",
    "InvalidTaskTypeError",
    "JsonCodec",
    "Leadership",
    "Lease",
    "LeaseTimeoutError",
    "Message",
    "MessageNotFoundError",
    "NotWorkingError",
    "PartialReadError",
    "PayloadTooLargeError",
    "PendingMessage",
    "PersistentOptions",
    "Process",
    "ProcessLostError",
    "Queue",
    "RedisCommandError",
    "RedisPermissionError",
    "RedisUnavailableError",
    "ReplicationTimeoutError",
    "Schedule",
    "StrCodec",
    "Stream",
    "StreamDeadLetter",
    "StreamInfo",
    "StreamMessage",
    "Subscription",
    "TaskCancelledError",
    "Term",
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
    "current_call",
]
