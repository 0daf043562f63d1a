"""The small steps every flow is made of: one call, one batch, and the advisory listing of a
queue in the registry."""

from __future__ import annotations

import logging
from typing import Any, TypeVar, cast

from worqr._protocol.call import Call
from worqr._protocol.flows.drive import Flow
from worqr.errors import WorqrError

T = TypeVar("T")
log = logging.getLogger("worqr")


def one(call: Call[T]) -> Flow[T]:
    """Send ``call`` alone; return its result."""
    (result,) = yield [call]
    return cast("T", result)


def batch(calls: list[Call[Any]]) -> Flow[list[Any]]:
    """Send ``calls`` in one round trip (nothing if empty); return their results."""
    if not calls:
        return []
    return (yield calls)


def check_listed(result: object, queue: str) -> None:
    """The outcome of an advisory add_queue: the state change beside it happened either way,
    so a refusal (the registry key clobbered, say) is logged, not raised."""
    if isinstance(result, WorqrError):
        log.warning("queue %r has its tasks, but the queue registry refused to list it: %s", queue, result)
