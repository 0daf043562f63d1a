"""`LocalSentinel`: a real local primary, replica and three sentinels; killing the primary
promotes the replica, and redis-py's `Sentinel` then reaches the new primary."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from redis.sentinel import Sentinel

from worqr.testing import LocalSentinel

# redis-py leaves `Sentinel` untyped; these two helpers give the tests typed values.


def sentinel_for(setup: LocalSentinel) -> Sentinel:
    return Sentinel(setup.sentinel_addresses, socket_timeout=2, sentinel_kwargs={"decode_responses": True})


def master_for(sentinel: Sentinel, service: str) -> redis.Redis:
    client: redis.Redis = sentinel.master_for(service, decode_responses=True)
    return client


def test_the_sentinels_know_the_primary_and_its_replica(make_local_sentinel: Callable[..., LocalSentinel]) -> None:
    setup = make_local_sentinel()
    assert len(setup.sentinel_addresses) == 3
    hosts = ",".join(f"{host}:{port}" for host, port in setup.sentinel_addresses)
    assert setup.url == f"redis+sentinel://{hosts}/worqr"
    assert setup.primary_address() == ("127.0.0.1", setup.primary.port)
    (replica,) = setup.replicas
    sentinel = sentinel_for(setup)
    try:
        for client in sentinel.sentinels:  # each sentinel on its own, not just the first to answer
            assert client.sentinel_get_master_addr_by_name("worqr") == ("127.0.0.1", setup.primary.port)
            assert [info["port"] for info in client.sentinel_slaves("worqr")] == [replica.port]
            master = client.sentinel_master("worqr")
            assert isinstance(master, dict)
            assert master["num-other-sentinels"] == 2
    finally:
        sentinel.close()


def test_kill_primary_promotes_the_replica_and_master_for_reaches_it(
    make_local_sentinel: Callable[..., LocalSentinel],
) -> None:
    setup = make_local_sentinel()
    old_port = setup.primary.port
    (replica,) = setup.replicas
    sentinel = sentinel_for(setup)
    try:
        before = master_for(sentinel, "worqr")
        pipe = before.pipeline(transaction=False)
        pipe.set("survives", "yes")
        pipe.wait(1, 5000)
        assert pipe.execute()[-1] == 1
        before.close()

        address = setup.kill_primary()

        assert address == ("127.0.0.1", replica.port)
        assert setup.primary is replica
        assert setup.replicas == []
        assert setup.primary_address() == address != ("127.0.0.1", old_port)
        assert sentinel.discover_master("worqr") == address
        after = master_for(sentinel, "worqr")
        try:
            assert after.info("server")["tcp_port"] == replica.port
            assert after.role()[0] == "master"
            assert after.get("survives") == "yes"
            after.set("written", "after")
            assert after.get("written") == "after"
        finally:
            after.close()
    finally:
        sentinel.close()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="service must be a non-empty name"):
        LocalSentinel(service="two words")
    with pytest.raises(ValueError, match="sentinels must be an int >= 1"):
        LocalSentinel(sentinels=0)
