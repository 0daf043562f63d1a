"""Telling a running handler to stop: its `CancelToken`, and `cancel_token()`, which gives
a handler its own."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Literal, TypeVar

from worqr.errors import TaskCancelledError

T = TypeVar("T")


CancelReason = Literal["cancelled", "timeout", "shutdown", "worker lost"]


_TOKENS_LOCK = threading.Lock()


class CancelToken:
    """Tells a running handler that it should stop: its task was cancelled, it ran past its
    timeout, the worker is shutting down (a persistent task is being released), or the
    worker was declared dead. Thread-safe; `worqr.cancel_token()` gives the current one."""

    def __init__(self) -> None:
        self._cancelled = False
        #: Made by the first `wait` only: most handlers never wait, and an Event costs.
        self._event: threading.Event | None = None
        self.reason: CancelReason | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self, reason: CancelReason) -> None:
        with _TOKENS_LOCK:
            if self._cancelled:
                return
            self.reason = reason
            self._cancelled = True
            event = self._event
        if event is not None:
            event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled (True) or ``timeout`` seconds pass (False). Sync handlers only."""
        with _TOKENS_LOCK:
            if self._cancelled:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    def raise_if_cancelled(self) -> None:
        """Raise `TaskCancelledError` if the handler should stop."""
        if self._cancelled:
            msg = f"the task's handler was told to stop ({self.reason})"
            raise TaskCancelledError(msg)

    def __repr__(self) -> str:
        return f"<CancelToken {self.reason or 'active'}>"


_current_token: contextvars.ContextVar[CancelToken] = contextvars.ContextVar("worqr_cancel_token")


def cancel_token() -> CancelToken:
    """The cancellation token of the handler that is running in this thread or task.

    Raises:
        RuntimeError: called outside a handler run by a worqr worker.
    """
    try:
        return _current_token.get()
    except LookupError:
        msg = "cancel_token() is only available inside a handler run by a worqr worker"
        raise RuntimeError(msg) from None


def bind_token(token: CancelToken) -> None:
    """Make ``token`` the current cancellation token of this asyncio task (its own context)."""
    _current_token.set(token)


def run_with_token(token: CancelToken, call: Callable[[], T]) -> T:
    """Run ``call`` with ``token`` as the current cancellation token."""
    reset = _current_token.set(token)
    try:
        return call()
    finally:
        _current_token.reset(reset)
