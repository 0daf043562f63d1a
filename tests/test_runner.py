"""Property 5: transient failures are retried only where a retry cannot apply an effect twice;
scripts flushed from the server's cache are reloaded; the heartbeat survives a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.helpers import wait_until
from worqr import RedisUnavailableError, Worqr
from worqr._protocol.keys import RegistryKeys
from worqr.testing import RedisServer, free_port


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A private server with AOF on (appendfsync always), so a restart keeps the data."""
    with RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]) as private:
        yield private


def test_scripts_flushed_from_the_cache_are_reloaded(server: RedisServer) -> None:
    with Worqr(redis=server.url) as wq:
        wq.enqueue("jobs", "a")
        redis.Redis.from_url(server.url).script_flush()
        assert wq.enqueue("jobs", ["b", "c"]) == 2
        assert wq.get_tasks("jobs") == ["a", "b", "c"]


def test_stale_connection_after_restart_is_replaced_without_duplicating(server: RedisServer) -> None:
    with Worqr(redis=server.url) as wq:
        wq.enqueue("jobs", "a")
        server.restart()  # every pooled connection is now dead
        assert wq.enqueue("jobs", "b") == 1
        assert wq.get_tasks("jobs") == ["a", "b"]


def test_state_change_lost_in_flight_is_not_retried(server: RedisServer) -> None:
    client = redis.Redis.from_url(server.url, socket_timeout=0.5)
    with Worqr(redis=client) as wq:
        wq.enqueue("jobs", "warm-up")  # connection and scripts ready
        server.pause()  # the server takes the command but cannot answer in time
        try:
            with pytest.raises(RedisUnavailableError) as caught:
                wq.enqueue("jobs", "once")
        finally:
            server.resume()
        assert caught.value.maybe_applied
        wait_until(lambda: wq.count_queue("jobs") == 2)
        assert wq.get_tasks("jobs") == ["warm-up", "once"]  # applied once, never twice
    client.close()


def test_unreachable_redis_gives_a_clear_error_without_the_password() -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    with Worqr(redis=url) as wq, pytest.raises(RedisUnavailableError) as caught:
        wq.count_queue("jobs")
    message = str(caught.value)
    assert "127.0.0.1" in message
    assert "s3cret" not in message
    assert not caught.value.maybe_applied


def test_reads_ride_over_a_short_outage(server: RedisServer) -> None:
    with Worqr(redis=server.url) as wq:
        wq.enqueue("jobs", "a")
        server.stop()
        restarter = threading.Timer(0.3, server.start)
        restarter.start()
        assert wq.count_queue("jobs") == 1  # retried with backoff until the server is back
        restarter.join()


def test_heartbeat_survives_a_redis_restart(server: RedisServer) -> None:
    with Worqr(redis=server.url, heartbeat_interval=0.1, worker_timeout=5.0) as wq:
        wq.start_worker()
        wq.start_work("jobs")
        raw = redis.Redis.from_url(server.url)
        key = RegistryKeys(wq.prefix).heartbeat(wq.worker_id)
        server.restart()
        wait_until(lambda: raw.pttl(key) > 4800)  # renewed after the restart
        assert not wq._session.state.lost
        wq.enqueue("jobs", "a")
        process = wq.dequeue("jobs")
        assert process is not None
        wq.finish_process(process.id)
        raw.close()


def test_a_connection_that_answered_loading_is_not_reused(server: RedisServer) -> None:
    """After a restart, the server answers LOADING while it reads its AOF back. redis-py
    leaves that reply in the connection's buffer; a connection put back in the pool would
    answer LOADING to every later call while the server ran them (one enqueue applied many
    times). The runner drops such connections, so each enqueue lands exactly once."""
    raw = redis.Redis.from_url(server.url)
    fill = "for i = 1, 200000 do redis.call('SET', KEYS[1] .. i, i) end"
    for chunk in range(4):  # ~800k keys: reading the AOF back takes a noticeable while
        raw.eval(fill, 1, f"filler:{chunk}:")
    raw.close()
    with Worqr(redis=server.url) as wq:
        wq.enqueue("jobs", "before")
        server.stop()
        saw_loading = threading.Event()

        def probe() -> None:
            client = redis.Redis(port=server.port, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    client.ping()
                    break
                except redis.exceptions.BusyLoadingError:
                    saw_loading.set()
                except redis.ConnectionError:
                    time.sleep(0.001)  # not listening yet: poll again shortly
            client.close()

        restarter = threading.Thread(target=server.start)
        prober = threading.Thread(target=probe, daemon=True)
        restarter.start()
        prober.start()
        sent: list[str] = []
        unsure: list[str] = []
        for i in range(10_000):  # until a few land after the load (each failure returns within ~10 s)
            if len(sent) == 5:
                break
            try:
                wq.enqueue("jobs", f"t{i}")
                sent.append(f"t{i}")
            except RedisUnavailableError as exc:
                # A batch whose first call was refused with LOADING: the rest may have run
                # after the load ended, and worqr says so instead of guessing.
                (unsure if exc.maybe_applied else []).append(f"t{i}")
        restarter.join()
        prober.join()
        assert saw_loading.is_set(), "the server never answered LOADING: the test did not reach its case"
        assert sent, "no enqueue succeeded after the restart"
        tasks = wq.get_tasks("jobs")
        assert len(tasks) == len(set(tasks)), f"a task was enqueued twice: {tasks}"
        assert [t for t in tasks if t not in unsure] == ["before", *sent]
