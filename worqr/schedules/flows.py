"""Every operation of schedules as a flow (see `worqr._protocol.flows`): put, remove and read
a schedule, and one look of a runtime worker at its queue's due schedules (`tick`). Pure:
the clients (``_async/face.py``) and the runtime's ticker (``_async/ticker.py``) drive them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from worqr._protocol.call import Call
from worqr._protocol.checks import check_queue_name
from worqr._protocol.codec import StrCodec
from worqr._protocol.flows.drive import Flow
from worqr._protocol.flows.steps import batch, check_listed, one
from worqr._protocol.flows.tasks import encode_tasks
from worqr._protocol.registry_ops import add_queue
from worqr._protocol.session import Session
from worqr.calls import envelope
from worqr.calls.registry import RECORD_TTL, Function
from worqr.errors import InvalidArgumentError, PayloadTooLargeError, WorqrError
from worqr.schedules import ops
from worqr.schedules.records import Schedule, Stored, parse_stored, schedule
from worqr.schedules.timing import Rules

_TEXT = StrCodec()
log = logging.getLogger("worqr")


def task_template(session: Session, queue: object, task: object) -> ops.Template:
    """What a schedule of ``task`` (a str, as `Worqr.enqueue` takes) enqueues on ``queue``."""
    check_queue_name(queue)
    if not isinstance(task, str):
        msg = f"a schedule's task must be a str (as enqueue takes), got {type(task).__name__}: {task!r}"
        raise InvalidArgumentError(msg)
    (payload,) = encode_tasks(session, _TEXT, [task])
    return ops.Template("task", payload)


def call_template(
    session: Session, fn: object, args: Sequence[object], kwargs: Mapping[str, object]
) -> tuple[str, ops.Template]:
    """The queue of ``fn``, and what a schedule of a call of it with these arguments (checked
    now) places there."""
    if not isinstance(fn, Function):
        msg = f"schedule_call needs a function registered with @functions.function, got {fn!r}"
        raise InvalidArgumentError(msg)
    body = fn.signature.encode(args, dict(kwargs))
    size = len(envelope.encode(envelope.new_call_id(fn.queue), fn.name, "", body))
    if size > session.max_payload_size:
        msg = (
            f"a call of {fn.name} of {size} bytes is over the limit of {session.max_payload_size} bytes "
            "(max_payload_size); store large data elsewhere and pass a reference to it"
        )
        raise PayloadTooLargeError(msg)
    ms = round(fn.options.result_ttl * 1000), round(RECORD_TTL * 1000)
    return fn.queue, ops.Template("call", body, fn.name, max(1, ms[0]), ms[1])


def decode_task(stored: Stored) -> str:
    """A stored schedule's task as text (a call's: its arguments, JSON)."""
    return stored.task.decode("utf-8", "replace") if stored.kind == "call" else _TEXT.decode(stored.task)


def read(session: Session, queue: str, name: str) -> Flow[Stored | None]:
    fields, score = yield from batch(ops.record(session.queue(queue), name))
    return parse_stored(name, queue, fields, score)


def put(session: Session, name: str, queue: str, rules: Rules, template: ops.Template) -> Flow[Stored]:
    """Create or update schedule ``name`` on ``queue`` (moving it there from another queue:
    removed from that one first). Returns the schedule as stored."""
    keys = session.queue(queue)
    old, peeked = yield from batch([ops.indexed_queue(session.registry, name), ops.peek(keys, 0)])
    if old is not None and old != queue:
        yield from one(ops.remove(session.queue(old), name))
    yield from one(ops.set_index(session.registry, name, queue))  # first: a schedule is never out of the index
    try:
        yield from one(ops.put(keys, name, rules, rules.timing.first_due(peeked.now_ms), template))
    except WorqrError:
        if old != queue:  # a new name (or one moved here): the index points where nothing is
            yield from one(ops.drop_index(session.registry, name, queue))
        raise
    listed, fields, score = yield [add_queue(session.registry, queue), *ops.record(keys, name)]
    check_listed(listed, queue)
    stored = parse_stored(name, queue, fields, score)
    if stored is None:  # removed in between by another client
        msg = f"schedule {name!r} was removed by another client while it was being written"
        raise WorqrError(msg)
    return stored


def remove(session: Session, name: str) -> Flow[bool]:
    """True if the schedule was there."""
    queue = yield from one(ops.indexed_queue(session.registry, name))
    if queue is None:
        return False
    removed = yield from one(ops.remove(session.queue(queue), name))
    yield from one(ops.drop_index(session.registry, name, queue))
    return removed


def get_all(session: Session, decode: Callable[[Stored], Any]) -> Flow[list[Schedule[Any]]]:
    """Every schedule under the prefix, by name: two round trips."""
    index = yield from one(ops.index(session.registry))
    names = sorted(index)
    replies = yield from batch([call for name in names for call in ops.record(session.queue(index[name]), name)])
    found = []
    for i, name in enumerate(names):
        stored = parse_stored(name, index[name], replies[2 * i], replies[2 * i + 1])
        if stored is not None:
            found.append(schedule(stored, decode(stored)))
    return found


#: How long a worker leaves due schedules it cannot fire (a cron schedule, on a worker without
#: the cron extra) to its peers before it looks at them again (seconds).
UNPLANNED_WAIT = 10.0


def tick(session: Session, queue: str) -> Flow[float | None]:
    """One look at the due schedules of ``queue``: fire each due time that came (or let it
    pass, by its rules). Returns the seconds until the next due time (0: look again now;
    None: the queue has no schedules)."""
    keys = session.queue(queue)
    peeked = yield from one(ops.peek(keys))
    now = peeked.now_ms
    due = [(name, due_ms) for name, due_ms in peeked.entries if due_ms <= now]
    later = [(due_ms - now) / 1000 for _, due_ms in peeked.entries if due_ms > now]
    if not due:
        return min(later, default=None)
    replies = yield from batch([call for name, _ in due for call in ops.record(keys, name)])
    steps: list[Call[Any]] = []
    unplanned = []
    for i, (name, due_ms) in enumerate(due):
        stored = parse_stored(name, queue, replies[2 * i], replies[2 * i + 1])
        if stored is None:  # a due time whose record was deleted behind worqr's back
            steps.append(ops.remove(keys, name))
            continue
        try:
            fire, next_due = stored.rules.plan(due_ms, now)
        except InvalidArgumentError as exc:
            unplanned.append(f"{name!r} ({exc})")
            continue
        call_id = envelope.new_call_id(queue) if stored.kind == "call" else ""
        steps.append(
            ops.fire(keys, name, due_ms=due_ms, rev=stored.rev, fire=fire, next_due_ms=next_due, call_id=call_id)
        )
    results = yield from batch(steps)
    if any(isinstance(result, tuple) and result == (ops.FIRED, 1) for result in results):
        (listed,) = yield [add_queue(session.registry, queue)]
        check_listed(listed, queue)
    if unplanned:
        log.warning("cannot fire schedule(s) %s of queue %r; left to the other workers", ", ".join(unplanned), queue)
        if len(unplanned) == len(due):
            return min([UNPLANNED_WAIT, *later])
    return 0.0
