"""The options of a runtime worker, checked: `WorkerOptions` / `PersistentOptions` (what the
caller passes), `Settings` (what the worker runs with), `Backoff`, the adaptive prefetch
(`Pace`) and the queues it serves (`QueueSpec`)."""

from __future__ import annotations

import inspect
import random
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypedDict

from worqr._protocol import checks
from worqr._protocol.codec import Codec, StrCodec
from worqr._protocol.models import Process
from worqr.errors import InvalidArgumentError

_TEXT = StrCodec()


@dataclass(frozen=True, slots=True)
class Backoff:
    """The delay before retrying a failed task: ``base * factor ** (attempt - 1)`` seconds,
    at most ``max``, minus a random share of up to ``jitter`` (0 to 1) of it, so that tasks
    that failed together don't all come back together."""

    base: float = 1.0
    factor: float = 2.0
    max: float = 300.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        for name in ("base", "max"):
            checks.check_seconds(f"Backoff.{name}", getattr(self, name))
        checks.check_number("Backoff.factor", self.factor, 1, sys.float_info.max, what="a finite number >= 1")
        checks.check_number("Backoff.jitter", self.jitter, 0, 1, what="a number from 0 to 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        exponent = min(attempt - 1, 64)  # beyond this the cap applies anyway; no overflow
        full = min(self.max, self.base * self.factor**exponent)
        return full * (1 - self.jitter * random.random())  # noqa: S311 (jitter, not security)


class PersistentOptions(TypedDict, total=False):
    """Options of `Worqr.persistent_worker` (see `WorkerOptions`; there is no timeout, and
    ``max_attempts`` defaults to None: a persistent task outlives the workers that die)."""

    concurrency: int
    max_attempts: int | None
    backoff: Backoff
    restart_on_loss: bool
    grace: float


class WorkerOptions(PersistentOptions, total=False):
    """Options of `Worqr.worker` and `AsyncWorqr.worker`.

    concurrency: most handlers running at once (threads, or asyncio tasks); default 1.
    max_attempts: attempts before a task goes to the dead letters (a worker that dies while
        running it uses one); None: retry forever. Default 3.
    backoff: the delay before each retry; default `Backoff()`.
    timeout: seconds a handler may run before its attempt counts as failed; default None.
    restart_on_loss: when the worker is lost (its peers declared it dead, or it could not
        confirm its heartbeat for ``worker_timeout`` and fenced itself), tell its handlers
        to stop, drop their outcomes, and register again under the same worker id, as a new
        incarnation, as soon as Redis answers; it keeps trying for as long as it runs.
        Default True. False: stop instead, and `run` raises WorkerLostError.
    grace: seconds running handlers get to finish on shutdown before their tasks are given
        back to the front of their queues; default 30.
    prefetch: tasks taken ahead of free handlers, in one dequeue, so that short tasks do not
        each wait a round trip. They are this worker's processes while they wait (a crash
        gives them back like running ones; shutdown gives them back at once). None (the
        default): adapt, holding about `PREFETCH_WINDOW` seconds of work going by the
        handlers' recent run times, so slow handlers get none; 0: never.
    """

    timeout: float | None
    prefetch: int | None


_DEFAULTS: dict[str, object] = {
    "concurrency": 1,
    "backoff": Backoff(),
    "timeout": None,
    "restart_on_loss": True,
    "grace": 30.0,
    "prefetch": None,
}

#: Adaptive prefetch holds about this many seconds of work per handler, at most
#: `MAX_PREFETCH` tasks per handler.
PREFETCH_WINDOW = 0.002
MAX_PREFETCH = 100


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated options of one runtime worker."""

    concurrency: int
    max_attempts: int | None
    backoff: Backoff
    timeout: float | None
    persistent: bool
    restart_on_loss: bool
    grace: float
    prefetch: int | None = 0

    @classmethod
    def from_options(cls, options: PersistentOptions | WorkerOptions, *, persistent: bool) -> Settings:
        """Validate the keyword arguments of ``worker`` / ``persistent_worker``."""
        kind = PersistentOptions if persistent else WorkerOptions
        allowed = kind.__required_keys__ | kind.__optional_keys__
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            msg = f"unknown option(s) {', '.join(unknown)}; the options are: {', '.join(sorted(allowed))}"
            raise InvalidArgumentError(msg)
        values: dict[str, Any] = {**_DEFAULTS, "max_attempts": None if persistent else 3, **options}
        return cls.check(persistent=persistent, **values)

    @classmethod
    def check(
        cls,
        *,
        concurrency: object,
        max_attempts: object,
        backoff: object,
        timeout: object,
        persistent: bool,
        restart_on_loss: object,
        grace: object,
        prefetch: object = 0,
    ) -> Settings:
        handlers = checks.check_int("concurrency", concurrency, 1, checks.MAX_TAKE)
        if not isinstance(backoff, Backoff):
            msg = f"backoff must be a worqr.Backoff, got {backoff!r}"
            raise InvalidArgumentError(msg)
        limit = checks.check_max_attempts(max_attempts)
        seconds = checks.check_seconds("timeout", timeout, allow_none=True)
        if seconds == 0:
            msg = "timeout must be positive (or None for no timeout), got 0"
            raise InvalidArgumentError(msg)
        ahead = None
        if prefetch is not None:
            ahead = checks.check_int(
                "prefetch", prefetch, 0, checks.MAX_TAKE, what=f"None (adapt) or an int from 0 to {checks.MAX_TAKE}"
            )
        return cls(
            concurrency=handlers,
            max_attempts=limit or None,
            backoff=backoff,
            timeout=seconds,
            persistent=persistent,
            restart_on_loss=checks.check_flag("restart_on_loss", restart_on_loss),
            grace=float(checks.check_seconds("grace", grace) or 0.0),
            prefetch=0 if persistent else ahead,
        )

    def capacity(self, pace: Pace) -> int:
        """How many tasks the worker may hold: one per handler, plus the prefetch."""
        extra = pace.prefetch(self.concurrency) if self.prefetch is None else self.prefetch
        return min(checks.MAX_TAKE, self.concurrency + extra)


class Pace:
    """The handlers' recent run time (a moving average), for the adaptive prefetch."""

    def __init__(self) -> None:
        self.seconds: float | None = None

    def add(self, seconds: float) -> None:
        self.seconds = seconds if self.seconds is None else 0.9 * self.seconds + 0.1 * seconds

    def prefetch(self, concurrency: int) -> int:
        if self.seconds is None:
            return 0  # nothing known yet: the first tasks tell
        per_handler = PREFETCH_WINDOW / max(self.seconds, 1e-6)
        return concurrency * min(MAX_PREFETCH, int(per_handler))


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One queue a worker serves, with the codec its handler's tasks are decoded by, and what
    decides each task's own options (``plan``; None: the worker's for every task)."""

    name: str
    codec: Codec[Any]
    plan: Callable[[Process[Any], bytes], TaskPlan] | None = None


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """One task's own options, where they differ from the worker's (None: the worker's), and
    how a value its handler reports is recorded (``report``: a flow maker; calls report
    their progress so)."""

    timeout: float | None = None
    max_attempts: int | None = None  # 0: no limit
    backoff: Backoff | None = None
    report: Callable[[Any, Process[Any], str], Any] | None = None


def _is_async(handler: object) -> bool:
    """True for an ``async def`` function (or a partial of one), or an object whose
    ``__call__`` is one."""
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(getattr(handler, "__call__", None))  # noqa: B004 (async __call__ of an object)


def check_handler(handler: object, *, asyncio: bool) -> object:
    """``handler`` if the worker can run it: an ``async def`` for the asyncio worker
    (``asyncio``), a plain callable for the threaded one."""
    if asyncio and not _is_async(handler):
        msg = (
            f"handler must be an async function (async def) taking a Process, got {handler!r}; "
            "for a blocking handler use Worqr.worker, or call it with asyncio.to_thread inside an async one"
        )
        raise InvalidArgumentError(msg)
    if not asyncio and not callable(handler):
        msg = f"handler must be callable (it takes a Process), got {handler!r}"
        raise InvalidArgumentError(msg)
    if not asyncio and _is_async(handler):
        msg = (
            f"handler must be a plain function (def) taking a Process, got the async function {handler!r}: "
            "Worqr.worker runs handlers in threads, where a coroutine is never awaited; "
            "use AsyncWorqr.worker for an async handler"
        )
        raise InvalidArgumentError(msg)
    return handler


def queue_specs(queues: object) -> list[QueueSpec]:
    """The queues of ``worker(queues, ...)``: one name or typed view, or a sequence of them
    in priority order (earlier queues are drained first)."""
    if isinstance(queues, str) or hasattr(queues, "codec"):
        items: list[object] = [queues]
    elif isinstance(queues, Iterable):
        items = list(queues)
    else:
        msg = f"queues must be a queue name, a Queue view, or a sequence of them, got {queues!r}"
        raise InvalidArgumentError(msg)
    specs: list[QueueSpec] = []
    for item in items:
        name, codec = (
            (item, _TEXT) if isinstance(item, str) else (getattr(item, "name", None), getattr(item, "codec", None))
        )
        if codec is None:
            msg = f"queues must hold queue names or Queue views, got {item!r}"
            raise InvalidArgumentError(msg)
        checked = checks.check_queue_name(name)
        if any(s.name == checked for s in specs):
            msg = f"queue {checked!r} is listed twice; list each queue once, in priority order"
            raise InvalidArgumentError(msg)
        specs.append(QueueSpec(checked, codec))
    if not specs:
        msg = "queues is empty: name at least one queue to work on"
        raise InvalidArgumentError(msg)
    return specs
