"""Every operation of leases as a flow (see `worqr._protocol.flows`): register and acquire,
renew, release and read (the release of a dead worker's leases is a step of reaping it:
``worqr._protocol.flows.workers.release_leases``). Pure:
the clients (``_async/leases.py``) drive them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from worqr._protocol.flows.drive import Flow
from worqr._protocol.flows.steps import batch, one
from worqr._protocol.keys import LeaseKeys
from worqr._protocol.registry_ops import members
from worqr._protocol.session import DECLARED_DEAD, Session
from worqr.errors import WorkerLostError, WorkerNotStartedError
from worqr.leases import ops
from worqr.leases.terms import Busy, Grant


def ttl_ms(ttl: float) -> int:
    return max(1, round(ttl * 1000))


def check_worker(session: Session, what: str) -> str:
    """The incarnation of this client's worker, if it is started and live; else the error
    that says what to do."""
    state = session.state
    with state.lock:
        if state.lost:
            msg = (
                f"worker {session.worker_id!r} {state.lost_reason or DECLARED_DEAD}; "
                f"call start_worker() again before {what}"
            )
            raise WorkerLostError(msg)
        if not state.started:
            msg = (
                f"{what} needs a started worker (what it holds is handed on when peers reap it): "
                "call start_worker() first"
            )
            raise WorkerNotStartedError(msg)
        return state.incarnation


def acquire(
    session: Session, keys: LeaseKeys, owner: str, ttl: float, registered: str | None
) -> Flow[tuple[str, Grant | Busy]]:
    """One try at the lease for contender ``owner``. The name is registered among the
    worker's leases first, once per incarnation (``registered``: the incarnation it was
    registered for), so that a reap of the worker releases it. Returns the incarnation the
    try was made for, and what it got."""
    incarnation = check_worker(session, f"acquiring lease {keys.name!r}")
    if registered != incarnation:
        alive = yield from one(ops.register(session.registry, session.worker_id, keys.name))
        if not alive:
            session.state.mark_lost(incarnation=incarnation)
            msg = f"worker {session.worker_id!r} was declared dead; call start_worker() again"
            raise WorkerLostError(msg)
    sent_at = time.monotonic()
    attempt = uuid.uuid4().hex
    got = yield from one(
        ops.acquire(keys, session.worker_id, incarnation=incarnation, owner=owner, attempt=attempt, ttl_ms=ttl_ms(ttl))
    )
    if isinstance(got, Busy):
        return incarnation, got
    token, acquired_at_ms = got
    return incarnation, Grant(token, acquired_at_ms, sent_at)


def renew_many(terms: Sequence[tuple[LeaseKeys, str, int, float]]) -> Flow[list[bool]]:
    """Renew each (keys, owner, token, ttl) in one round trip; False where the term is over."""
    return (yield from batch([ops.renew(keys, owner, token, ttl_ms(ttl)) for keys, owner, token, ttl in terms]))


def release(keys: LeaseKeys, owner: str, token: int) -> Flow[bool]:
    return (yield from one(ops.release(keys, owner, token)))


def holding(keys: LeaseKeys) -> Flow[ops.Holding]:
    return ops.parse_holding(keys, (yield from batch(ops.holding(keys))))


def check_fence(keys: LeaseKeys, token: int) -> Flow[bool]:
    current = yield from one(ops.current_token(keys))
    return current is not None and current == token


def inspect_leases(session: Session) -> Flow[list[ops.Holding]]:
    """Every lease ever used under the prefix, by name, as it is now: two round trips."""
    names = yield from one(members(session.registry.leases))
    all_keys = [LeaseKeys(session.prefix, name) for name in names]
    replies = yield from batch([call for keys in all_keys for call in ops.holding(keys)])
    return [ops.parse_holding(keys, replies[3 * i : 3 * i + 3]) for i, keys in enumerate(all_keys)]
