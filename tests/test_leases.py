"""Leases (worqr.leases) with the threaded client, against a real server: tokens, release and
standbys, renewal, release on reap, the holder's own clock, fencing (check_fence and the Lua
fragment in a script of one's own), leader election, and bad input. The asyncio client's
are in tests/test_async_leases.py; the many-process run with SIGKILL and SIGSTOP in
tests/scenarios/test_lease_exclusion.py; Redis Cluster in tests/cluster/test_leases_cluster.py."""

from __future__ import annotations

import json
import math
import queue
import threading
from collections.abc import Callable

import pytest
import redis

from tests.helpers import pause_heartbeat
from tests.runtime_helpers import FAST, LONG, declare_dead, keys_of
from worqr import (
    InvalidArgumentError,
    InvalidNameError,
    Leadership,
    LeaseTimeoutError,
    Term,
    WorkerLostError,
    WorkerNotStartedError,
    Worqr,
)
from worqr._protocol.keys import LeaseKeys, RegistryKeys
from worqr.cli import main
from worqr.leases import FENCE_LUA

MakeWorqr = Callable[..., Worqr]
#: A ttl no test waits out: a lease that changes hands under it did so by a release or a reap.
FOREVER = 600.0


def alive(term: Term) -> bool:
    """``term.alive`` read anew (mypy takes a property it narrowed once for a constant)."""
    return term.alive


def leading(leadership: Leadership) -> bool:
    return leadership.is_leader


def started(make_worqr: MakeWorqr, **options: object) -> Worqr:
    client = make_worqr(**{**FAST, **options})
    client.start_worker()
    return client


def test_a_lease_has_one_holder_and_every_new_holder_a_greater_token(make_worqr: MakeWorqr) -> None:
    a, b = started(make_worqr), started(make_worqr)
    leases = [a.lease("job", ttl=FOREVER), b.lease("job", ttl=FOREVER), a.lease("job", ttl=FOREVER)]
    tokens = []
    for turn in range(6):
        holder = leases[turn % 3]
        term = holder.try_acquire()
        assert term is not None and term.alive
        assert term.holder == (a if turn % 3 != 1 else b).worker_id
        for other in leases:
            if other is not holder:
                assert other.try_acquire() is None  # two leases of one client contend too
        assert a.lease("job").holder() == term.holder
        tokens.append(term.token)
        assert holder.release() is True
        assert not term.alive
    assert tokens == sorted(tokens) and len(set(tokens)) == 6
    assert a.lease("job").holder() is None
    elsewhere = a.lease("other", ttl=FOREVER).try_acquire()
    assert elsewhere is not None and elsewhere.token == 1  # each name counts on its own


def test_acquire_returns_the_term_it_holds_and_release_of_nothing_is_false(make_worqr: MakeWorqr) -> None:
    lease = started(make_worqr).lease("job", ttl=FOREVER)
    term = lease.acquire()
    assert term is not None
    assert lease.acquire(timeout=0) is term and lease.term is term
    assert lease.release() is True
    assert lease.release() is False and lease.term is None


def test_a_standby_takes_over_on_release_without_waiting_out_the_ttl(make_worqr: MakeWorqr) -> None:
    holder, standby = started(make_worqr).lease("job", ttl=FOREVER), started(make_worqr).lease("job", ttl=FOREVER)
    first = holder.acquire()
    assert first is not None
    got: queue.Queue[Term | None] = queue.Queue()
    waiting = threading.Thread(target=lambda: got.put(standby.acquire(timeout=LONG)))
    waiting.start()
    holder.release()
    second = got.get(timeout=LONG)  # it heard the release (or tried after it): 600 s were not waited out
    waiting.join()
    assert second is not None and second.token == first.token + 1 and second.alive


def test_acquire_gives_up_after_its_timeout_and_hold_raises(make_worqr: MakeWorqr) -> None:
    a, b = started(make_worqr), started(make_worqr)
    assert a.lease("job", ttl=FOREVER).acquire() is not None
    assert b.lease("job").acquire(timeout=0.05) is None
    with pytest.raises(LeaseTimeoutError, match=r"not acquired within 0\.05 s") as raised, b.lease("job").hold(0.05):
        pytest.fail("held a lease another worker holds")
    assert raised.value.name == "job" and isinstance(raised.value, TimeoutError)


def test_hold_keeps_the_term_renewed_past_its_ttl_and_releases_on_exit(make_worqr: MakeWorqr) -> None:
    client = started(make_worqr)
    lease = client.lease("job", ttl=0.3)
    with lease.hold(timeout=LONG) as term:
        assert term.wait_lost(timeout=1.0) is False  # three ttls, renewed all along
        assert term.alive and lease.holder() == client.worker_id
        assert client.check_fence("job", term.token)
    assert not alive(term) and lease.holder() is None
    assert not client.check_fence("job", term.token)


def test_a_term_taken_away_on_the_server_is_found_lost_at_its_next_renewal(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    a, b = started(make_worqr), started(make_worqr)
    term = a.lease("job", ttl=0.6).acquire()
    assert term is not None
    raw.delete(LeaseKeys(a.prefix, "job").holder)  # as if it had expired (a long pause)
    stolen = b.lease("job", ttl=FOREVER).acquire(timeout=LONG)
    assert stolen is not None and stolen.token == term.token + 1
    assert term.wait_lost(timeout=LONG)  # its renewal was refused: never renewed under the new holder
    assert not a.check_fence("job", term.token) and a.check_fence("job", stolen.token)


def test_a_term_is_not_alive_once_its_validity_ran_out_unrenewed(make_worqr: MakeWorqr) -> None:
    """The holder's own clock: with its renewals stopped (a process frozen past its ttl, as
    seen by itself), the term turns not alive before the server lets the hold expire."""
    client = started(make_worqr)
    lease = client.lease("job", ttl=0.5)
    term = lease.acquire()
    assert term is not None
    client._leases._background.stop(LONG)  # freeze the renewals, nothing else
    assert term.wait_lost(timeout=LONG)
    holding = client.lease("job").holder()
    assert holding == client.worker_id or holding is None  # the server may still hold it: the margin


def test_a_worker_reaped_by_its_peers_releases_its_leases_at_once(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    victim, peer = started(make_worqr), started(make_worqr)
    held = victim.lease("job", ttl=FOREVER).acquire()
    assert held is not None
    standby = peer.lease("job", ttl=FOREVER)
    got: queue.Queue[Term | None] = queue.Queue()
    waiting = threading.Thread(target=lambda: got.put(standby.acquire(timeout=LONG)))
    waiting.start()
    declare_dead(victim, peer, raw)  # its heartbeat expires; the peer reaps it
    taken = got.get(timeout=LONG)  # long before the 600 s ttl
    waiting.join()
    assert taken is not None and taken.holder == peer.worker_id and taken.token == held.token + 1
    assert held.wait_lost(timeout=LONG)  # its heartbeat unconfirmed past its fence: over on its side too
    assert not raw.exists(RegistryKeys(victim.prefix).leases_of(held.holder))  # forgotten with the worker


def test_a_worker_whose_heartbeat_went_unconfirmed_holds_no_alive_term(make_worqr: MakeWorqr) -> None:
    client = started(make_worqr)
    term = client.lease("job", ttl=FOREVER).acquire()
    assert term is not None
    pause_heartbeat(client)  # its lease is renewed, but peers may reap its worker soon
    assert term.wait_lost(timeout=LONG)


def test_a_clean_close_releases_the_leases_for_the_standbys(make_worqr: MakeWorqr) -> None:
    leaving, staying = started(make_worqr), started(make_worqr)
    assert leaving.lease("job", ttl=FOREVER).acquire() is not None
    standby = staying.lease("job", ttl=FOREVER)
    got: queue.Queue[Term | None] = queue.Queue()
    waiting = threading.Thread(target=lambda: got.put(standby.acquire(timeout=LONG)))
    waiting.start()
    leaving.close()
    taken = got.get(timeout=LONG)
    waiting.join()
    assert taken is not None and taken.holder == staying.worker_id


def test_a_script_of_ones_own_refuses_a_stale_token_with_the_fence_fragment(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    a, b = started(make_worqr), started(make_worqr)
    lease = a.lease("ledger", ttl=FOREVER)
    old = lease.acquire()
    assert old is not None
    resource = LeaseKeys(a.prefix, "ledger").tag + ":balance"  # the lease's hash tag: one slot on a cluster
    write = raw.register_script(
        FENCE_LUA
        + """
if not fence_current(KEYS[1], ARGV[1]) then
  return redis.error_reply("STALE token " .. ARGV[1])
end
return redis.call("INCRBY", KEYS[2], ARGV[2])
"""
    )
    assert write(keys=[lease.fence_key, resource], args=[old.token, 5]) == 5
    lease.release()
    new = b.lease("ledger", ttl=FOREVER).acquire()
    assert new is not None
    with pytest.raises(redis.ResponseError, match=f"STALE token {old.token}"):
        write(keys=[lease.fence_key, resource], args=[old.token, 100])
    assert write(keys=[lease.fence_key, resource], args=[new.token, 1]) == 6
    assert raw.get(resource) == b"6"


def test_a_leader_is_elected_steps_down_and_a_standby_takes_over(make_worqr: MakeWorqr) -> None:
    elected: queue.Queue[tuple[str, int]] = queue.Queue()
    lost: queue.Queue[tuple[str, int]] = queue.Queue()
    first, second, observer = started(make_worqr), started(make_worqr), started(make_worqr)
    one = first.leader("feed", on_elected=lambda t: elected.put((t.holder, t.token)))
    one.on("lost", lambda t: lost.put((t.holder, t.token)))
    assert elected.get(timeout=LONG) == (first.worker_id, 1)
    assert one.is_leader and one.term is not None
    two = second.leader("feed", on_elected=lambda t: elected.put((t.holder, t.token)))
    assert observer.lease("feed").holder() == first.worker_id and one.leader() == first.worker_id
    assert not two.is_leader and two.term is None
    one.close()
    assert lost.get(timeout=LONG) == (first.worker_id, 1)
    assert elected.get(timeout=LONG) == (second.worker_id, 2)
    assert two.leader() == second.worker_id and not leading(one)
    two.close()


def test_a_leader_whose_worker_is_reaped_is_told_it_lost_and_a_standby_is_elected(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    elected: queue.Queue[str] = queue.Queue()
    lost: queue.Queue[str] = queue.Queue()
    victim, peer = started(make_worqr), started(make_worqr)
    victim.leader("feed", ttl=FOREVER, on_elected=lambda t: elected.put(t.holder), on_lost=lambda t: lost.put(t.holder))
    assert elected.get(timeout=LONG) == victim.worker_id
    peer.leader("feed", ttl=FOREVER, on_elected=lambda t: elected.put(t.holder))
    declare_dead(victim, peer, raw)
    assert lost.get(timeout=LONG) == victim.worker_id
    assert elected.get(timeout=LONG) == peer.worker_id


def test_leases_refuse_bad_input_before_anything_is_written(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    idle = make_worqr(**FAST)
    with pytest.raises(WorkerNotStartedError, match=r"start_worker\(\) first"):
        idle.lease("job")
    with pytest.raises(WorkerNotStartedError):
        idle.leader("job")
    assert keys_of(raw, idle) == []
    client = started(make_worqr)
    before = keys_of(raw, client)
    for ttl in (0, -1.0, math.nan, math.inf, "5", True, 0.01, 10**6):
        with pytest.raises(InvalidArgumentError, match=r"ttl must be a number of seconds from 0\.05 to 86400"):
            client.lease("job", ttl=ttl)  # type: ignore[arg-type]
    for name in ("", 5, "a\nb"):
        with pytest.raises(InvalidNameError, match="lease name"):
            client.lease(name)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="timeout"):
        client.lease("job").acquire(timeout=-1)
    with pytest.raises(InvalidArgumentError, match="token must be"):
        client.check_fence("job", 0)
    assert keys_of(raw, client) == before
    leadership = client.leader("x")
    with pytest.raises(InvalidArgumentError, match="'elected' and 'lost'"):
        leadership.on("won", print)  # type: ignore[arg-type]
    leadership.close()


def test_a_lease_of_a_worker_declared_dead_says_to_start_it_again(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    victim, peer = started(make_worqr), started(make_worqr)
    lease = victim.lease("job", ttl=FOREVER)
    declare_dead(victim, peer, raw)
    with pytest.raises(WorkerLostError, match=r"start_worker\(\) again"):
        lease.acquire()
    victim.start_worker()
    term = lease.acquire(timeout=LONG)  # a new incarnation registers the lease again
    assert term is not None and term.alive
    assert raw.sismember(RegistryKeys(victim.prefix).leases_of(victim.worker_id), "job")


def test_worqr_leases_shows_each_lease_its_holder_token_and_time_left(
    make_worqr: MakeWorqr, redis_url: str, worqr_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = started(make_worqr)
    term = client.lease("feed", ttl=FOREVER).acquire()
    assert term is not None
    free = client.lease("spare", ttl=FOREVER)
    assert free.try_acquire() is not None
    free.release()
    capsys.readouterr()
    assert main(["--redis", redis_url, "--prefix", worqr_prefix, "leases", "--json"]) == 0
    feed, spare = json.loads(capsys.readouterr().out)
    assert (feed["name"], feed["holder"], feed["token"], feed["last_token"]) == ("feed", client.worker_id, 1, 1)
    assert 0 < feed["expires_in_ms"] <= FOREVER * 1000 and feed["acquired_at"].endswith("+00:00")
    assert (spare["name"], spare["holder"], spare["token"], spare["expires_in_ms"]) == ("spare", None, None, None)
    assert main(["--redis", redis_url, "--prefix", worqr_prefix, "leases"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "HOLDER", "TOKEN", "EXPIRES_IN", "LAST_TOKEN"]
    assert lines[1].split()[:3] == ["feed", client.worker_id, "1"] and lines[2].split()[1] == "-"
