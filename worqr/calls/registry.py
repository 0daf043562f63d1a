"""`Functions`: the registry of functions that can be called on workers, and `Function`, one
of them with its options. Importable by producers and workers alike: nothing here connects.

    functions = Functions()

    @functions.function(queue="math", max_attempts=3, timeout=30.0, result_ttl=3600.0)
    def factorial(n: int) -> int: ...

    wq.call(factorial, 5).result()   # a producer: Worqr.call
    wq.serve(functions).run()        # a worker: Worqr.serve
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

from typing_extensions import ParamSpec

from worqr._protocol import checks
from worqr.calls.arguments import Signature
from worqr.calls.envelope import check_function_name
from worqr.errors import InvalidArgumentError

P = ParamSpec("P")
R = TypeVar("R")

#: How long a call's record (its state and result) is kept once the call ended, by default.
RESULT_TTL = 3600.0
#: Longest a call's record waits, unended, before it goes (a call whose queue was deleted).
RECORD_TTL = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class FunctionOptions:
    """The runtime options of one function, checked when it is registered: the worker that
    serves it applies them to each of its calls (they override the worker's own)."""

    max_attempts: int | None = 3  # None: retried until it succeeds
    timeout: float | None = None  # None: the worker's
    backoff: Any = None  # a worqr.Backoff, or None for the worker's
    result_ttl: float = RESULT_TTL

    @classmethod
    def check(cls, *, max_attempts: object, timeout: object, backoff: object, result_ttl: object) -> FunctionOptions:
        limit = checks.check_max_attempts(max_attempts)
        seconds = checks.check_seconds("timeout", timeout, allow_none=True)
        if seconds == 0:
            msg = "timeout must be positive (or None for no timeout), got 0"
            raise InvalidArgumentError(msg)
        if backoff is not None and not callable(getattr(backoff, "delay", None)):
            msg = f"backoff must be a worqr.Backoff or None (the worker's), got {backoff!r}"
            raise InvalidArgumentError(msg)
        ttl = checks.check_positive_seconds("result_ttl", result_ttl)
        return cls(max_attempts=limit or None, timeout=seconds, backoff=backoff, result_ttl=ttl)


@dataclass(frozen=True, slots=True)
class CallOptions:
    """How one call is placed: later (``delay`` seconds, or ``at`` a time), and under a unique
    ``key`` (a second call with the key of a live call returns that call's handle)."""

    delay: float | None = None
    at: datetime | None = None
    key: str | None = None


class Function(Generic[P, R]):
    """A registered function: its name, its queue, its options and the function itself
    (``fn``; a `Function` is not called directly: `Worqr.call` calls it on a worker).
    ``R`` is the result type a caller gets (an ``async def``'s awaited value)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str,
        queue: str,
        options: FunctionOptions,
        signature: Signature | None = None,
        call_options: CallOptions | None = None,
    ) -> None:
        self.fn = fn
        self.name = name
        self.queue = queue
        self.options = options
        #: How its arguments and result travel (built from its annotations when registered).
        self.signature = signature or Signature(fn)
        self.call_options = call_options or CallOptions()
        self.is_async = inspect.iscoroutinefunction(fn)

    def with_options(
        self, *, delay: float | None = None, at: datetime | None = None, key: str | None = None
    ) -> Function[P, R]:
        """This function, with the options of the calls made with it: later (``delay``
        seconds, or ``at`` a timezone-aware time), or unique by ``key``. Checked now."""
        checks.due_time_ms(delay, at)
        if key is not None and (not isinstance(key, str) or not key):
            msg = f"key must be a non-empty str (or None), got {key!r}"
            raise InvalidArgumentError(msg)
        chosen = CallOptions(delay, at, key)
        return Function(
            self.fn,
            name=self.name,
            queue=self.queue,
            options=self.options,
            signature=self.signature,
            call_options=chosen,
        )

    def __repr__(self) -> str:
        return f"<Function {self.name!r} on queue {self.queue!r}>"


class Functions:
    """A registry of functions, by name. Register with the `function` decorator."""

    def __init__(self) -> None:
        self._functions: dict[str, Function[Any, Any]] = {}

    @overload
    def function(
        self,
        *,
        queue: str,
        name: str | None = None,
        max_attempts: int | None = 3,
        timeout: float | None = None,
        backoff: Any = None,
        result_ttl: float = RESULT_TTL,
    ) -> _Decorator: ...
    @overload
    def function(
        self,
        fn: Callable[P, Awaitable[R]],
        *,
        queue: str,
        name: str | None = None,
        max_attempts: int | None = 3,
        timeout: float | None = None,
        backoff: Any = None,
        result_ttl: float = RESULT_TTL,
    ) -> Function[P, R]: ...
    @overload
    def function(
        self,
        fn: Callable[P, R],
        *,
        queue: str,
        name: str | None = None,
        max_attempts: int | None = 3,
        timeout: float | None = None,
        backoff: Any = None,
        result_ttl: float = RESULT_TTL,
    ) -> Function[P, R]: ...
    def function(
        self,
        fn: Any = None,
        *,
        queue: str,
        name: str | None = None,
        max_attempts: int | None = 3,
        timeout: float | None = None,
        backoff: Any = None,
        result_ttl: float = RESULT_TTL,
    ) -> Any:
        """Register a function to be called on workers that serve ``queue``. The name
        defaults to ``module.qualname``. Options as the runtime's: ``max_attempts`` (None:
        retry forever), ``timeout`` (seconds), ``backoff`` (a `Backoff`; None: the worker's),
        and ``result_ttl``: how long its result is kept once a call ended. Bad options, a
        queue name or name that cannot be used, and a name registered twice are refused now."""
        checked_queue = checks.check_queue_name(queue)
        options = FunctionOptions.check(
            max_attempts=max_attempts, timeout=timeout, backoff=backoff, result_ttl=result_ttl
        )

        def register(target: object) -> Function[Any, Any]:
            if not callable(target):
                msg = f"functions.function decorates a function, got {target!r}"
                raise InvalidArgumentError(msg)
            chosen = check_function_name(
                name
                if name is not None
                else f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', repr(target))}"
            )
            if chosen in self._functions:
                msg = f"a function named {chosen!r} is registered already; give one of them name=..."
                raise InvalidArgumentError(msg)
            self._functions[chosen] = Function(target, name=chosen, queue=checked_queue, options=options)
            return self._functions[chosen]

        return register if fn is None else register(fn)

    def get(self, name: str) -> Function[Any, Any] | None:
        return self._functions.get(name)

    @property
    def queues(self) -> list[str]:
        """The queues of the registered functions, in the order they were first named."""
        return list(dict.fromkeys(f.queue for f in self._functions.values()))

    def __iter__(self) -> Iterator[Function[Any, Any]]:
        return iter(list(self._functions.values()))

    def __len__(self) -> int:
        return len(self._functions)

    def __repr__(self) -> str:
        return f"<Functions {sorted(self._functions)}>"


class _Decorator:
    """What ``functions.function(queue=...)`` returns: it registers the function it decorates."""

    @overload
    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Function[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Function[P, R]: ...
    def __call__(self, fn: Any) -> Any: ...
