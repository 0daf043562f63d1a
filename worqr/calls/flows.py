"""Every operation of calls as a flow (see `worqr._protocol.flows`): place a call, read
records, cancel, report progress. Pure: the clients (``_async/calls.py``) and the runtime
(``serving.py``) drive them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from worqr._protocol.checks import due_time_ms
from worqr._protocol.flows.drive import Flow
from worqr._protocol.flows.steps import batch, check_listed, one
from worqr._protocol.models import Process, parse_process_id
from worqr._protocol.registry_ops import add_queue
from worqr._protocol.session import Session
from worqr.calls import envelope, ops
from worqr.calls.registry import RECORD_TTL, Function
from worqr.calls.status import Record
from worqr.errors import PayloadTooLargeError, WorqrError


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def place(
    session: Session, fn: Function[Any, Any], args: Sequence[object], kwargs: dict[str, object]
) -> Flow[ops.Placed]:
    """Call ``fn`` with these arguments: its task and its record, in one script. Returns the
    call's id (with a unique key held by a live call: that call's id, and ``existing``).
    Everything is checked before anything is written."""
    chosen = fn.call_options
    due = due_time_ms(chosen.delay, chosen.at)
    body = fn.signature.encode(args, kwargs)
    keys = session.queue(fn.queue)
    call_id = envelope.new_call_id(keys.queue)
    task = envelope.encode(call_id, fn.name, session.worker_id, body)
    if len(task) > session.max_payload_size:
        msg = (
            f"a call of {fn.name} of {len(task)} bytes is over the limit of {session.max_payload_size} bytes "
            "(max_payload_size); store large data elsewhere and pass a reference to it"
        )
        raise PayloadTooLargeError(msg)
    placed = yield from one(
        ops.call(
            keys,
            call_id,
            due=due,
            key=chosen.key,
            result_ttl_ms=_ms(fn.options.result_ttl),
            record_ttl_ms=_ms(RECORD_TTL),
            function=fn.name,
            caller=session.worker_id,
            task=task,
        )
    )
    if placed.unlisted:
        try:
            (listed,) = yield [add_queue(session.registry, keys.queue)]
        except WorqrError as exc:  # the call is in: report it, never invite a retry
            listed = exc
        check_listed(listed, keys.queue)
    return placed


def records(session: Session, call_ids: Sequence[str]) -> Flow[list[Record]]:
    """The records of these calls (one round trip), `status.UNKNOWN` where there is none."""
    calls = [ops.record(session.queue(envelope.queue_of(call_id)), call_id) for call_id in call_ids]
    return (yield from batch(calls))


def cancel(session: Session, call_id: str) -> Flow[str]:
    """ "cancelled" (it was waiting: it never runs), "running" (its worker was told), "ended"
    or "unknown" (see lua/call_cancel.lua)."""
    keys = session.queue(envelope.queue_of(call_id))
    return (yield from one(ops.cancel(keys, call_id)))


def report_progress(session: Session, process: Process[Any], value_json: str) -> Flow[None]:
    """Store the progress a running call reported (dropped if the process is no longer this
    worker's: its call has moved on)."""
    seq, queue = parse_process_id(process.id)
    call_id = getattr(process.task, "call_id", None)
    if not isinstance(call_id, str):
        return
    yield from one(ops.progress(session.queue(queue), session.worker_id, seq, call_id, value_json))
