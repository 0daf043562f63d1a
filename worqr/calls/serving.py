"""Serving a registry of functions on the runtime (`Worqr.serve`, `AsyncWorqr.serve`), and
`current_call()` inside one of them.

A served queue's tasks are decoded by a `CallCodec` into an `Invocation` (the function and
its rebuilt arguments); a task that cannot be (not a call, an unknown function, arguments
that do not fit) is a `CodecError`, which the runtime dead-letters at once: its call fails
without a retry, with the reason as its error. Each call runs with its function's options
(`TaskPlan`: timeout, max_attempts, backoff) over the worker's, and its return value is
stored, encoded by the function's return annotation, by the script that finishes its process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from worqr._protocol.models import Process
from worqr._protocol.typed import canonical_json, json_refusal, shown
from worqr._runtime.jobs import current_job
from worqr._runtime.options import QueueSpec, TaskPlan
from worqr.calls import envelope
from worqr.calls.flows import report_progress
from worqr.calls.registry import Function, Functions
from worqr.errors import CodecError, InvalidArgumentError, WorqrError

#: Largest progress value a call may report, as JSON bytes.
MAX_PROGRESS_SIZE = 64 * 1024


@dataclass(frozen=True, slots=True)
class Invocation:
    """One call, as a worker runs it: its id, its function and its rebuilt arguments."""

    call_id: str
    function: Function[Any, Any]
    args: list[Any]
    kwargs: dict[str, Any]


class CallCodec:
    """Decodes the calls on one served queue (workers only: calls are placed by `Worqr.call`)."""

    def __init__(self, functions: Functions, queue: str) -> None:
        self.functions = functions
        self.queue = queue

    def encode(self, task: Invocation) -> bytes:
        msg = f"a call is placed with Worqr.call(function, ...), not enqueued; got {shown(task)}"
        raise InvalidArgumentError(msg)

    def decode(self, payload: bytes) -> Invocation:
        call = envelope.decode(payload)
        fn = self.functions.get(call.function)
        if fn is None:
            known = sorted(f.name for f in self.functions if f.queue == self.queue)
            msg = (
                f"call {call.call_id} names the function {call.function!r}, which this worker does not serve "
                f"(it serves {known} on queue {self.queue!r}): register it with functions.function on the workers"
            )
            raise CodecError(msg, payload=payload)
        if fn.queue != self.queue:
            msg = f"call {call.call_id} of {fn.name} is on queue {self.queue!r}, but {fn.name} is registered on {fn.queue!r}"
            raise CodecError(msg, payload=payload)
        args, kwargs = fn.signature.decode(call.body)
        return Invocation(call.call_id, fn, args, kwargs)

    def __repr__(self) -> str:
        return f"CallCodec({self.queue!r})"


def _plan(process: Process[Any], _payload: bytes) -> TaskPlan:
    options = process.task.function.options
    return TaskPlan(
        timeout=options.timeout,
        max_attempts=options.max_attempts or 0,  # 0: no limit
        backoff=options.backoff,
        report=report_progress,
    )


def async_specs(functions: object) -> list[QueueSpec]:
    """The queues `AsyncWorqr.serve` works on (see `serve_specs`)."""
    return serve_specs(functions, asyncio=True)


def sync_specs(functions: object) -> list[QueueSpec]:
    """The queues `Worqr.serve` works on (see `serve_specs`)."""
    return serve_specs(functions, asyncio=False)


def serve_specs(functions: object, *, asyncio: bool) -> list[QueueSpec]:
    """The queues a worker serving ``functions`` works on; refuses a registry it cannot run
    (empty, or holding functions of the other kind: ``async def`` for a threaded worker)."""
    if not isinstance(functions, Functions):
        msg = f"serve takes a worqr.Functions registry, got {functions!r}"
        raise InvalidArgumentError(msg)
    if not len(functions):
        msg = "the registry holds no function: register some with @functions.function(queue=...) first"
        raise InvalidArgumentError(msg)
    wrong = sorted(fn.name for fn in functions if fn.is_async != asyncio)
    if wrong and asyncio:
        msg = (
            f"AsyncWorqr.serve runs functions on its event loop, but {wrong} are plain functions (def): "
            "serve them with Worqr.serve, or make them async def"
        )
        raise InvalidArgumentError(msg)
    if wrong:
        msg = (
            f"Worqr.serve runs functions in threads, where a coroutine is never awaited, but {wrong} are "
            "async def: serve them with AsyncWorqr.serve, or make them plain functions"
        )
        raise InvalidArgumentError(msg)
    return [QueueSpec(queue, CallCodec(functions, queue), _plan) for queue in functions.queues]


def sync_run(process: Process[Invocation]) -> object:
    """The threaded worker's handler: run the call's function, return its result as JSON."""
    call = process.task
    return call.function.signature.dump_result(call.function.fn(*call.args, **call.kwargs))


async def async_run(process: Process[Invocation]) -> object:
    """The asyncio worker's handler: await the call's function, return its result as JSON."""
    call = process.task
    fn: Callable[..., Awaitable[object]] = call.function.fn
    return call.function.signature.dump_result(await fn(*call.args, **call.kwargs))


@dataclass(frozen=True, slots=True)
class CurrentCall:
    """The call a served function is running: its ``id``, its ``attempt`` (1 for the first),
    its ``function``'s name, and `report_progress`."""

    id: str
    attempt: int
    function: str

    def report_progress(self, value: object) -> None:
        """Store ``value`` (a number, or any JSON value up to 64 KiB) as the call's progress,
        and tell its caller. Returns at once: the worker records the latest value in its next
        round (a value reported just before the function returns may be overtaken by the
        result; a call that has moved on to another worker records nothing)."""
        try:
            text = canonical_json(value)
        except (TypeError, ValueError) as exc:
            msg = f"progress {shown(value)} is not a JSON value: {json_refusal(exc)}"
            raise InvalidArgumentError(msg) from exc
        if len(text) > MAX_PROGRESS_SIZE:
            msg = f"progress of {len(text)} bytes as JSON is over the limit of {MAX_PROGRESS_SIZE}; report a summary"
            raise InvalidArgumentError(msg)
        job = current_job()
        if job is None or getattr(job.process.task, "call_id", None) != self.id:
            msg = "report_progress is called from the function's own thread or task, while it runs"
            raise WorqrError(msg)
        job.report_value(text.decode())


def current_call() -> CurrentCall:
    """The call the function running in this thread or task serves (`Worqr.serve`), or
    `WorqrError` outside one."""
    job = current_job()
    task = None if job is None else job.process.task
    if job is None or not isinstance(task, Invocation):
        msg = "current_call() is only known inside a function that Worqr.serve or AsyncWorqr.serve runs"
        raise WorqrError(msg)
    return CurrentCall(task.call_id, job.process.attempt, task.function.name)
