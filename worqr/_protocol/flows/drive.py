"""Running flows: `drive` and `adrive` run one flow, `drive_together` and `adrive_together`
several side by side with their calls in one round trip per round.

A flow is a generator: it yields a batch of calls (sent in one round trip) or a `Pause`, and
receives the batch's parsed results; its return value is the operation's result. The
drivers know nothing of Redis: ``run`` sends a batch (a runner's ``run``), and ``sleep``
waits out a pause (``time.sleep``, ``asyncio.sleep``). Only two flows ever pause (a worker
id still held by an earlier incarnation, and a late result waiting for its timeout's
failure), so an async caller that runs neither may leave ``sleep`` out.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from worqr._protocol.call import Call
from worqr.errors import WorqrError

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Pause:
    """Yielded by a flow that must wait (for another worker's heartbeat to expire)."""

    seconds: float


#: A flow: yields batches of calls (or a Pause), receives their results, returns R.
Flow = Generator[list[Call[Any]] | Pause, list[Any], R]
Run = Callable[[Sequence[Call[Any]]], list[Any]]
AsyncRun = Callable[[Sequence[Call[Any]]], Awaitable[list[Any]]]
AsyncSleep = Callable[[float], Awaitable[object]]


def _cannot_pause(seconds: float) -> Awaitable[object]:
    msg = f"a flow paused for {seconds} s, but its async driver was given no sleep"
    raise RuntimeError(msg)


def _step(flow: Flow[Any], results: list[Any] | Exception) -> list[Call[Any]] | Pause:
    """Hand a batch's results, or the error it raised, to the flow; its next batch."""
    if isinstance(results, Exception):
        return flow.throw(results)
    return flow.send(results)


def drive(flow: Flow[R], run: Run, sleep: Callable[[float], object] = time.sleep) -> R:
    """Run ``flow`` to completion, sending each batch with ``run``."""
    try:
        batch = next(flow)
        while True:
            outcome: list[Any] | Exception = []
            if isinstance(batch, Pause):
                sleep(batch.seconds)
            else:
                try:
                    outcome = run(batch)
                except Exception as exc:  # noqa: BLE001 (the flow decides; re-raised if it doesn't catch)
                    outcome = exc
            batch = _step(flow, outcome)
    except StopIteration as stop:
        return cast("R", stop.value)


async def adrive(flow: Flow[R], run: AsyncRun, sleep: AsyncSleep = _cannot_pause) -> R:
    """`drive` with a coroutine ``run`` (and ``sleep``)."""
    try:
        batch = next(flow)
        while True:
            outcome: list[Any] | Exception = []
            if isinstance(batch, Pause):
                await sleep(batch.seconds)
            else:
                try:
                    outcome = await run(batch)
                except Exception as exc:  # noqa: BLE001 (see drive)
                    outcome = exc
            batch = _step(flow, outcome)
    except StopIteration as stop:
        return cast("R", stop.value)


@dataclass(frozen=True, slots=True)
class _Raised:
    """A call's parser raised: the exception goes to the flow that yielded the call."""

    error: Exception


def _guarded(call: Call[Any]) -> Call[Any]:
    """``call``, made to hand its error back as its result instead of failing the batch."""
    parse = call.parse

    def guarded(reply: Any) -> Any:
        try:
            return parse(reply)
        except Exception as exc:  # noqa: BLE001 (handed to the flow that owns the call)
            return _Raised(exc)

    # Built directly: dataclasses.replace costs more than the rest of a round on the hot path.
    return Call(
        call.keys,
        call.args,
        guarded,
        call.idempotent,
        script=call.script,
        command=call.command,
        advisory=True,
        durable=call.durable,
    )


class Together:
    """Steps several flows side by side; each round, the calls they all yielded go out in one
    round trip. A call's error reaches only the flow that yielded it. Pure: `drive_together`
    and `adrive_together` do the I/O."""

    def __init__(self, flows: Sequence[Flow[Any]]) -> None:
        self.flows = list(flows)
        self.outcomes: list[Any] = [None] * len(flows)
        self.waiting: dict[int, list[Call[Any]]] = {}
        self.paused: dict[int, float] = {}
        for i in range(len(flows)):
            self._advance(i, next)

    def _advance(self, i: int, step: Callable[[Flow[Any]], list[Call[Any]] | Pause]) -> None:
        try:
            batch = step(self.flows[i])
        except StopIteration as stop:
            self.outcomes[i] = stop.value
        except Exception as exc:  # noqa: BLE001 (the flow's outcome)
            self.outcomes[i] = exc
        else:
            if isinstance(batch, Pause):
                self.paused[i] = batch.seconds
            else:
                self.waiting[i] = batch

    @property
    def running(self) -> bool:
        return bool(self.waiting or self.paused)

    def calls(self) -> list[Call[Any]]:
        """The calls of the flows waiting for a round trip, in one batch."""
        return [_guarded(call) for batch in self.waiting.values() for call in batch]

    def deliver(self, results: list[Any] | Exception) -> None:
        """Hand each flow its calls' results, or the error the whole round failed with
        (Redis unreachable, say): every flow in it hears so."""
        waiting, self.waiting = self.waiting, {}
        at = 0
        for i, batch in waiting.items():
            if isinstance(results, Exception):
                self._advance(i, functools.partial(_step, results=results))
                continue
            mine = results[at : at + len(batch)]
            at += len(batch)
            error = next(
                (
                    r.error if isinstance(r, _Raised) else r
                    for r, c in zip(mine, batch, strict=True)
                    if isinstance(r, _Raised) or (isinstance(r, WorqrError) and not c.advisory)
                ),
                None,
            )
            self._advance(i, functools.partial(_step, results=mine if error is None else error))

    def pause(self) -> float:
        """How long the paused flows wait; they are resumed by `resume`."""
        return max(self.paused.values(), default=0.0)

    def resume(self) -> None:
        paused, self.paused = self.paused, {}
        for i in paused:
            self._advance(i, functools.partial(_step, results=[]))


def drive_together(flows: Sequence[Flow[Any]], run: Run, sleep: Callable[[float], object] = time.sleep) -> list[Any]:
    """Run ``flows`` to completion side by side, their calls sent together (one round trip per
    round instead of one per flow). Returns each flow's result, or the exception it raised."""
    together = Together(flows)
    while together.running:
        if not together.waiting:
            sleep(together.pause())
            together.resume()
            continue
        try:
            together.deliver(run(together.calls()))
        except Exception as exc:  # noqa: BLE001 (each flow decides)
            together.deliver(exc)
    return together.outcomes


async def adrive_together(flows: Sequence[Flow[Any]], run: AsyncRun, sleep: AsyncSleep = _cannot_pause) -> list[Any]:
    """`drive_together` with a coroutine ``run`` (and ``sleep``)."""
    together = Together(flows)
    while together.running:
        if not together.waiting:
            await sleep(together.pause())
            together.resume()
            continue
        try:
            together.deliver(await run(together.calls()))
        except Exception as exc:  # noqa: BLE001 (each flow decides)
            together.deliver(exc)
    return together.outcomes
