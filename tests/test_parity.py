"""`AsyncWorqr` / `AsyncQueue` mirror `Worqr` / `Queue`: the same public names, parameters,
defaults and docstrings; everything that talks to Redis is a coroutine on the async side."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from worqr import (
    AsyncCall,
    AsyncChannel,
    AsyncLeadership,
    AsyncLease,
    AsyncMessage,
    AsyncQueue,
    AsyncStream,
    AsyncSubscription,
    AsyncTerm,
    AsyncWorker,
    AsyncWorqr,
    Call,
    Channel,
    Leadership,
    Lease,
    Message,
    Queue,
    Stream,
    Subscription,
    Term,
    Worker,
    Worqr,
)

#: Names only the async face has (the asyncio spelling of ``close``).
ASYNC_ONLY = {"aclose"}
#: Public methods that only register or build something locally: plain in both faces
#: (CORE-NOTES.md). ``AsyncWorqr.on`` returns a future to await for the live subscription.
LOCAL = {
    "on",
    "off",
    "queue",
    "worker",
    "persistent_worker",
    "request_stop",
    "serve",
    "get_call",
    "as_completed",
    "lease",
    "leader",
    "alive_until",
    "hold",  # a context manager: entered with `async with`
    "stream",
    "channel",
    "id",
    "data",
    "published_at",
    "deliveries",
}
#: Names of LOCAL that are coroutines in one class all the same (who leads: read from Redis).
TALKS: dict[type, set[str]] = {AsyncLeadership: {"leader"}}
#: Docstrings the async face words differently on purpose: ``AsyncWorqr.on`` returns a future
#: to await and accepts async callbacks, which ``Worqr.on``'s docstring cannot say; the async
#: runtime builders take coroutine handlers and cancel them, which the threaded ones cannot.
OWN_DOCS = {"on", "worker", "persistent_worker"}

PAIRS = [
    pytest.param(Worqr, AsyncWorqr, id="Worqr"),
    pytest.param(Queue, AsyncQueue, id="Queue"),
    pytest.param(Worker, AsyncWorker, id="Worker"),
    pytest.param(Call, AsyncCall, id="Call"),
    pytest.param(Lease, AsyncLease, id="Lease"),
    pytest.param(Term, AsyncTerm, id="Term"),
    pytest.param(Leadership, AsyncLeadership, id="Leadership"),
    pytest.param(Stream, AsyncStream, id="Stream"),
    pytest.param(Subscription, AsyncSubscription, id="Subscription"),
    pytest.param(Message, AsyncMessage, id="Message"),
    pytest.param(Channel, AsyncChannel, id="Channel"),
]


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def _members(sync_cls: type, async_cls: type) -> list[tuple[str, Any, Any]]:
    return [
        (name, inspect.getattr_static(sync_cls, name), inspect.getattr_static(async_cls, name))
        for name in sorted(_public(sync_cls) & _public(async_cls))
    ]


def _shape(param: inspect.Parameter) -> tuple[str, inspect._ParameterKind, str]:
    # Defaults compared by repr: a codec default (StrCodec()) is a distinct instance per face.
    return param.name, param.kind, repr(param.default)


def _doc(member: Any) -> str | None:
    return inspect.cleandoc(member.__doc__) if member.__doc__ else None


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS)
def test_same_public_names(sync_cls: type, async_cls: type) -> None:
    assert _public(sync_cls) == _public(async_cls) - ASYNC_ONLY
    assert _public(sync_cls)  # the comparison is not vacuous


def test_async_only_names_are_what_we_expect() -> None:
    assert _public(AsyncWorqr) - _public(Worqr) == ASYNC_ONLY
    assert _public(AsyncQueue) == _public(Queue)


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS)
def test_same_kinds_of_member(sync_cls: type, async_cls: type) -> None:
    for name, sync_member, async_member in _members(sync_cls, async_cls):
        assert type(sync_member) is type(async_member), name


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS)
def test_same_parameters_kinds_and_defaults(sync_cls: type, async_cls: type) -> None:
    names = ["__init__"] + [name for name, member, _ in _members(sync_cls, async_cls) if callable(member)]
    for name in names:
        sync_params = inspect.signature(getattr(sync_cls, name)).parameters.values()
        async_params = inspect.signature(getattr(async_cls, name)).parameters.values()
        assert [_shape(p) for p in sync_params] == [_shape(p) for p in async_params], name


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS)
def test_methods_that_talk_to_redis_are_coroutines_only_in_the_async_face(sync_cls: type, async_cls: type) -> None:
    methods = [name for name, member, _ in _members(sync_cls, async_cls) if inspect.isfunction(member)]
    assert methods
    for name in methods:
        assert not inspect.iscoroutinefunction(getattr(sync_cls, name)), name
        local = name in LOCAL and name not in TALKS.get(async_cls, set())
        assert inspect.iscoroutinefunction(getattr(async_cls, name)) == (not local), name
    assert inspect.iscoroutinefunction(AsyncWorqr.aclose)


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS)
def test_same_docstrings(sync_cls: type, async_cls: type) -> None:
    assert sync_cls.__doc__
    assert async_cls.__doc__ == sync_cls.__doc__
    methods = [(n, s, a) for n, s, a in _members(sync_cls, async_cls) if inspect.isfunction(s)]
    assert methods
    for name, sync_member, async_member in methods:
        if name in OWN_DOCS and sync_cls is Worqr:
            assert _doc(async_member), name
            assert _doc(async_member) != _doc(sync_member), name
            continue
        assert _doc(sync_member), f"{sync_cls.__name__}.{name} has no docstring"
        assert _doc(async_member) == _doc(sync_member), f"{async_cls.__name__}.{name} has its own docstring"


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS)
def test_same_property_docstrings(sync_cls: type, async_cls: type) -> None:
    for name, sync_member, async_member in _members(sync_cls, async_cls):
        if not isinstance(sync_member, property):
            continue
        assert _doc(sync_member), f"{sync_cls.__name__}.{name} has no docstring"
        assert _doc(async_member) == _doc(sync_member), (
            f"LIBRARY BUG: {async_cls.__name__}.{name} (a property) lacks the docstring of "
            f"{sync_cls.__name__}.{name}: _docs_from copies only callable members, and a property is not callable"
        )


def test_both_workers_are_context_managers() -> None:
    assert callable(Worker.__enter__) and callable(Worker.__exit__)
    assert inspect.iscoroutinefunction(AsyncWorker.__aenter__)
    assert inspect.iscoroutinefunction(AsyncWorker.__aexit__)


def test_both_clients_are_context_managers() -> None:
    assert callable(Worqr.__enter__) and callable(Worqr.__exit__)
    assert inspect.iscoroutinefunction(AsyncWorqr.__aenter__)
    assert inspect.iscoroutinefunction(AsyncWorqr.__aexit__)
