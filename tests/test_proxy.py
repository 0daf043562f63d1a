"""`worqr.testing.FaultProxy`: each fault does what it promises, against a real server and
real clients (redis-py, raw sockets, worqr), and the proxy leaves nothing behind.

Where a test needs to know that the proxy has seen some traffic it waits for the proxy's
stats (`FaultProxy.wait_for`), never for a fixed time; the only timed waits are short
``recv`` timeouts that check that nothing arrives, and client ``socket_timeout``s that a
lost reply must run into. Latency is only ever bounded from below.
"""

from __future__ import annotations

import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from worqr import Worqr
from worqr.testing import FaultProxy, RedisServer, free_port
from worqr.testing.proxy import CHUNK, HOLD_LIMIT

#: Long enough never to be reached when the proxy works; the bound on every wait.
DEADLINE = 10.0
#: How long a client waits for a reply that must never come.
SHORT_TIMEOUT = 1.0
#: How long a raw socket checks that nothing arrives.
QUIET = 0.2

#: What redis-py sends for ``blpop(["list"], timeout=0)``.
BLPOP_LIST = b"*3\r\n$5\r\nBLPOP\r\n$4\r\nlist\r\n$1\r\n0\r\n"

MakeClient = Callable[..., redis.Redis]


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


@pytest.fixture
def direct(server: RedisServer) -> Iterator[redis.Redis]:
    """A client on the server itself, not through the proxy: what really happened there."""
    client = redis.Redis(port=server.port, socket_timeout=DEADLINE, retry=Retry(NoBackoff(), 0))
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def proxy(server: RedisServer) -> Iterator[FaultProxy]:
    with FaultProxy(server.port) as p:
        yield p


@pytest.fixture
def connect(proxy: FaultProxy, server: RedisServer) -> Iterator[MakeClient]:
    """redis-py clients through the proxy: one connection each, made at once (so that its
    handshake is done before a fault), no retries (so that a fault shows as it is)."""
    clients: list[redis.Redis] = []

    def make(timeout: float = DEADLINE) -> redis.Redis:
        client = redis.Redis.from_url(
            proxy.url_for(server.url),
            socket_timeout=timeout,
            socket_connect_timeout=DEADLINE,
            retry=Retry(NoBackoff(), 0),
            single_connection_client=True,
        )
        clients.append(client)
        assert client.ping()
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def raw(proxy: FaultProxy) -> Iterator[Callable[[], socket.socket]]:
    """Plain sockets through the proxy, speaking RESP inline commands."""
    sockets: list[socket.socket] = []

    def make() -> socket.socket:
        sock = socket.create_connection(proxy.address, timeout=DEADLINE)
        sockets.append(sock)
        return sock

    yield make
    for sock in sockets:
        sock.close()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A plain TCP server on loopback, for what Redis would hide: FIN, RST, exact bytes."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(DEADLINE)
    yield sock
    sock.close()


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


def recv_line(sock: socket.socket) -> bytes:
    """One reply line, without its CRLF."""
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data[:-2]


def recv_all(sock: socket.socket) -> bytes:
    """Everything until the peer's FIN."""
    parts = []
    while chunk := sock.recv(CHUNK):
        parts.append(chunk)
    return b"".join(parts)


def assert_quiet(sock: socket.socket) -> None:
    """Nothing arrives for a while, and the connection is neither closed nor reset."""
    sock.settimeout(QUIET)
    try:
        with pytest.raises(socket.timeout):
            sock.recv(1)
    finally:
        sock.settimeout(DEADLINE)


def assert_reset_at_once(address: tuple[str, int]) -> None:
    """A new connection is reset: in connect() already, or at its first read."""
    with pytest.raises(ConnectionResetError):  # noqa: PT012 (either call may see the RST)
        sock = socket.create_connection(address, timeout=DEADLINE)
        with sock:
            sock.recv(1)


def in_thread(fn: Callable[[], object]) -> tuple[Future[object], threading.Thread]:
    """Run ``fn`` in a thread; its outcome in the future."""
    future: Future[object] = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return future, thread


# -- plain forwarding -------------------------------------------------------------------


def test_commands_go_through_both_ways(proxy: FaultProxy, connect: MakeClient, direct: redis.Redis) -> None:
    client = connect()
    assert client.set("k", "v")
    assert client.get("k") == b"v"
    assert direct.get("k") == b"v"
    stats = proxy.stats()
    assert stats.connections == 1
    assert stats.accepted == 1
    assert stats.to_server > 0
    assert stats.to_client > 0
    assert stats.held_to_server == stats.held_to_client == 0
    assert stats.dropped_to_server == stats.dropped_to_client == 0


def test_large_values_go_through_intact(connect: MakeClient, direct: redis.Redis) -> None:
    value = bytes(range(256)) * (3 * HOLD_LIMIT // 256 + 7)  # more than the hold limit
    client = connect()
    assert client.set("big", value)
    assert direct.get("big") == value
    assert client.get("big") == value


def test_url_for_swaps_only_the_host_and_port(proxy: FaultProxy) -> None:
    at = f"127.0.0.1:{proxy.port}"
    assert proxy.url_for("redis://127.0.0.1:6379/0") == f"redis://{at}/0"
    assert proxy.url_for("redis://user:pa%40ss@localhost:6379/3?socket_timeout=2") == (
        f"redis://user:pa%40ss@{at}/3?socket_timeout=2"
    )
    assert proxy.url_for("rediss://:secret@[::1]:6380") == f"rediss://:secret@{at}"
    assert proxy.address == ("127.0.0.1", proxy.port)
    with pytest.raises(ValueError, match="redis://"):
        proxy.url_for("unix:///tmp/redis.sock")


def test_arguments_are_checked(server: RedisServer) -> None:
    for bad_port in (0, 70000, True):
        with pytest.raises(ValueError, match="port"):
            FaultProxy(bad_port)
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy(server.port, upstream_host="192.0.2.1")
    proxy = FaultProxy(server.port, upstream_host="localhost")
    for bad_delay in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="delay"):
            proxy.delay(bad_delay)
    for bad_count in (0, -1):
        with pytest.raises(ValueError, match="count"):
            proxy.swallow_replies(bad_count)
    proxy.close()  # never started: nothing to stop


def test_connections_counts_live_client_connections(
    proxy: FaultProxy, raw: Callable[[], socket.socket], direct: redis.Redis
) -> None:
    assert proxy.connections == 0
    socks = [raw() for _ in range(3)]
    proxy.wait_for_connections(3)
    socks[0].close()  # the client closes
    proxy.wait_for_connections(2)
    socks[1].sendall(b"CLIENT ID\r\n")
    client_id = int(recv_line(socks[1]).removeprefix(b":"))
    assert direct.client_kill_filter(_id=str(client_id)) == 1  # the server closes
    assert recv_all(socks[1]) == b""  # its FIN is passed on; the connection is half closed
    assert proxy.connections == 2
    socks[1].close()  # until the client closes too
    proxy.wait_for_connections(1)
    socks[2].close()
    proxy.wait_for_connections(0)
    assert proxy.stats().accepted == 3


# -- delay ------------------------------------------------------------------------------


def test_delay_adds_latency_in_each_direction(proxy: FaultProxy, connect: MakeClient) -> None:
    client = connect()
    latency = 0.15
    proxy.delay(latency)
    started = time.monotonic()
    assert client.ping()
    assert time.monotonic() - started >= 2 * latency  # the request, then the reply
    proxy.delay(0)
    assert client.ping()


# -- partition --------------------------------------------------------------------------


def test_partition_holds_a_request_until_heal_then_delivers_it(
    proxy: FaultProxy, connect: MakeClient, direct: redis.Redis
) -> None:
    client = connect(timeout=DEADLINE)  # longer than the partition
    proxy.partition()
    result, thread = in_thread(lambda: client.set("k", "v"))
    proxy.wait_for(lambda s: s.held_to_server > 0)
    assert direct.get("k") is None  # held: the server has not seen it
    assert not result.done()
    proxy.heal()
    assert result.result(timeout=DEADLINE) is True
    thread.join(DEADLINE)
    assert direct.get("k") == b"v"
    assert proxy.stats().held_to_server == 0


def test_partition_holds_a_reply_until_heal_then_delivers_it(
    proxy: FaultProxy, connect: MakeClient, direct: redis.Redis
) -> None:
    client = connect(timeout=DEADLINE)
    before = proxy.stats().to_server
    result, thread = in_thread(lambda: client.blpop(["list"], timeout=0))
    proxy.wait_for(lambda s: s.to_server == before + len(BLPOP_LIST))  # the BLPOP is at the server
    proxy.partition()
    direct.lpush("list", "x")  # the server answers the BLPOP now, into the partition
    proxy.wait_for(lambda s: s.held_to_client > 0)
    assert not result.done()
    assert direct.llen("list") == 0  # it was taken: only the reply is held
    proxy.heal()
    assert result.result(timeout=DEADLINE) == (b"list", b"x")
    thread.join(DEADLINE)


def test_partition_keeps_tcp_intact_and_delivers_in_order_with_fin_last(
    listener: socket.socket,
) -> None:
    with FaultProxy(port_of(listener)) as proxy:
        client = socket.create_connection(proxy.address, timeout=DEADLINE)
        upstream, _ = listener.accept()
        with client, upstream:
            upstream.settimeout(DEADLINE)
            proxy.wait_for_connections(1)
            proxy.partition()
            client.sendall(b"abc")
            proxy.wait_for(lambda s: s.held_to_server == 3)
            client.sendall(b"def")
            proxy.wait_for(lambda s: s.held_to_server == 6)
            client.shutdown(socket.SHUT_WR)  # its FIN is held too
            upstream.sendall(b"reply")
            proxy.wait_for(lambda s: s.held_to_client == 5)
            assert_quiet(upstream)  # no byte, no FIN, no RST
            assert_quiet(client)
            assert proxy.connections == 1
            proxy.heal()
            assert recv_exactly(client, 5) == b"reply"
            assert recv_all(upstream) == b"abcdef"  # in order, then the FIN
            upstream.close()
            assert recv_all(client) == b""
            proxy.wait_for_connections(0)


def test_partition_holds_more_than_the_hold_limit_without_loss(listener: socket.socket) -> None:
    payload = bytes(range(256)) * (3 * HOLD_LIMIT // 256)
    with FaultProxy(port_of(listener)) as proxy:
        client = socket.create_connection(proxy.address, timeout=DEADLINE)
        upstream, _ = listener.accept()
        with client, upstream:
            upstream.settimeout(DEADLINE)
            proxy.partition()
            sent, thread = in_thread(lambda: client.sendall(payload))
            proxy.wait_for(lambda s: s.held_to_server >= HOLD_LIMIT)  # then it stops reading
            assert proxy.stats().held_to_server < HOLD_LIMIT + CHUNK
            proxy.heal()
            assert recv_exactly(upstream, len(payload)) == payload
            sent.result(timeout=DEADLINE)
            thread.join(DEADLINE)


# -- blackhole --------------------------------------------------------------------------


def test_blackhole_drops_a_request_for_good_and_keeps_the_connection_open(
    proxy: FaultProxy, raw: Callable[[], socket.socket], direct: redis.Redis
) -> None:
    sock = raw()
    sock.sendall(b"CLIENT ID\r\n")
    client_id = recv_line(sock).removeprefix(b":").decode()
    proxy.blackhole()
    sock.sendall(b"SET k lost\r\n")
    proxy.wait_for(lambda s: s.dropped_to_server == len(b"SET k lost\r\n"))
    assert_quiet(sock)  # no reply, and no FIN or RST: the client cannot tell
    assert client_id in {c["id"] for c in direct.client_list()}  # nor can the server
    proxy.heal()
    sock.sendall(b"ECHO after\r\n")
    assert recv_exactly(sock, 11) == b"$5\r\nafter\r\n"  # the first reply is this one's
    assert direct.get("k") is None  # the SET never reached the server


def test_blackhole_drops_a_reply_for_good(
    proxy: FaultProxy, raw: Callable[[], socket.socket], direct: redis.Redis
) -> None:
    sock = raw()
    sock.sendall(b"BLPOP list 0\r\n")
    proxy.wait_for(lambda s: s.to_server == len(b"BLPOP list 0\r\n"))
    proxy.blackhole()
    direct.lpush("list", "x")
    reply = b"*2\r\n$4\r\nlist\r\n$1\r\nx\r\n"
    proxy.wait_for(lambda s: s.dropped_to_client == len(reply))
    assert direct.llen("list") == 0  # the BLPOP ran
    proxy.heal()
    sock.sendall(b"PING\r\n")
    assert recv_exactly(sock, 7) == b"+PONG\r\n"  # the BLPOP's reply is gone


def test_blackhole_makes_a_command_time_out_not_fail(
    proxy: FaultProxy, connect: MakeClient, direct: redis.Redis
) -> None:
    client = connect(timeout=SHORT_TIMEOUT)
    proxy.blackhole()
    with pytest.raises(redis.TimeoutError):
        client.set("k", "v")
    assert proxy.stats().dropped_to_server > 0
    proxy.heal()
    assert direct.get("k") is None  # even after heal
    assert client.ping()  # the client reconnects


def test_blackhole_drops_what_a_partition_held(
    proxy: FaultProxy, raw: Callable[[], socket.socket], direct: redis.Redis
) -> None:
    sock = raw()
    proxy.wait_for_connections(1)
    proxy.partition()
    sock.sendall(b"SET k held\r\n")
    proxy.wait_for(lambda s: s.held_to_server > 0)
    proxy.blackhole()  # the far side is gone: what was held is lost
    stats = proxy.stats()
    assert stats.held_to_server == 0
    assert stats.dropped_to_server == len(b"SET k held\r\n")
    proxy.heal()
    sock.sendall(b"PING\r\n")
    assert recv_exactly(sock, 7) == b"+PONG\r\n"
    assert direct.get("k") is None


# -- swallow_replies --------------------------------------------------------------------


def test_swallowed_reply_the_command_ran_but_the_client_never_hears(
    proxy: FaultProxy, connect: MakeClient, direct: redis.Redis
) -> None:
    client = connect(timeout=SHORT_TIMEOUT)
    proxy.swallow_replies()
    with pytest.raises(redis.TimeoutError):
        client.set("k", "v")
    assert direct.get("k") == b"v"  # applied on the server
    assert proxy.stats().dropped_to_client == len(b"+OK\r\n")
    proxy.heal()
    assert client.get("k") == b"v"


def test_swallow_a_counted_number_of_chunks_then_forward_again(
    proxy: FaultProxy, raw: Callable[[], socket.socket], direct: redis.Redis
) -> None:
    sock = raw()
    proxy.wait_for_connections(1)
    proxy.swallow_replies(1)
    sock.sendall(b"INCR n\r\n")
    proxy.wait_for(lambda s: s.dropped_to_client == len(b":1\r\n"))
    sock.sendall(b"INCR n\r\n")
    assert recv_exactly(sock, 4) == b":2\r\n"  # the first ran too; only its reply was lost
    assert direct.get("n") == b"2"


# -- reset ------------------------------------------------------------------------------


def test_reset_sends_rst_to_both_peers(listener: socket.socket) -> None:
    with FaultProxy(port_of(listener)) as proxy:
        client = socket.create_connection(proxy.address, timeout=DEADLINE)
        upstream, _ = listener.accept()
        with client, upstream:
            upstream.settimeout(DEADLINE)
            client.sendall(b"hello")
            assert recv_exactly(upstream, 5) == b"hello"
            proxy.reset()
            assert proxy.connections == 0
            with pytest.raises(ConnectionResetError):
                client.recv(1)
            with pytest.raises(ConnectionResetError):
                upstream.recv(1)


def test_reset_fails_a_command_in_flight_at_once_and_the_client_reconnects(
    proxy: FaultProxy, connect: MakeClient, direct: redis.Redis
) -> None:
    client = connect(timeout=60.0)  # an error before this is the reset, not a timeout
    before = proxy.stats().to_server
    result, thread = in_thread(lambda: client.blpop(["list"], timeout=0))
    proxy.wait_for(lambda s: s.to_server == before + len(BLPOP_LIST))
    started = time.monotonic()
    proxy.reset()
    with pytest.raises(redis.ConnectionError):
        result.result(timeout=DEADLINE)
    assert time.monotonic() - started < DEADLINE
    thread.join(DEADLINE)
    assert client.ping()  # a new connection through the proxy
    assert proxy.stats().accepted == 2
    direct.lpush("list", "x")
    assert client.blpop(["list"], timeout=1) == (b"list", b"x")


def test_a_worqr_client_carries_on_after_a_reset(proxy: FaultProxy, server: RedisServer) -> None:
    with Worqr(redis=proxy.url_for(server.url), prefix=f"proxy-{uuid.uuid4().hex}") as wq:
        wq.enqueue("jobs", "a")
        proxy.reset()  # its pooled connection is dead
        wq.enqueue("jobs", "b")
        assert wq.get_tasks("jobs") == ["a", "b"]


# -- refuse -----------------------------------------------------------------------------


def test_refuse_resets_new_connections_and_spares_live_ones(
    proxy: FaultProxy, raw: Callable[[], socket.socket], server: RedisServer
) -> None:
    live = raw()
    proxy.wait_for_connections(1)
    proxy.refuse()
    assert_reset_at_once(proxy.address)
    with (
        redis.Redis.from_url(proxy.url_for(server.url), retry=Retry(NoBackoff(), 0)) as client,
        pytest.raises(redis.ConnectionError),
    ):
        client.ping()
    live.sendall(b"PING\r\n")
    assert recv_exactly(live, 7) == b"+PONG\r\n"
    stats = proxy.stats()
    assert stats.refused == 2
    assert stats.accepted == 1
    assert stats.connections == 1
    proxy.refuse(False)
    with redis.Redis.from_url(proxy.url_for(server.url), retry=Retry(NoBackoff(), 0)) as client:
        assert client.ping()


def test_an_upstream_that_is_down_resets_the_client() -> None:
    with FaultProxy(free_port()) as proxy:
        assert_reset_at_once(proxy.address)
        stats = proxy.wait_for(lambda s: s.upstream_failures == 1)
        assert stats.connections == 0


# -- life cycle -------------------------------------------------------------------------


def test_close_resets_connections_and_leaves_no_thread(server: RedisServer) -> None:
    before = set(threading.enumerate())
    proxy = FaultProxy(server.port)
    proxy.partition()  # faults may be set before start
    proxy.start()
    sock = socket.create_connection(proxy.address, timeout=DEADLINE)
    with sock:
        sock.sendall(b"PING\r\n")
        proxy.wait_for(lambda s: s.held_to_server == 6)
        assert set(threading.enumerate()) - before
        proxy.close()
        with pytest.raises(ConnectionResetError):
            sock.recv(1)
    assert not set(threading.enumerate()) - before
    assert not [t for t in threading.enumerate() if t.name.startswith("worqr-fault-proxy")]
    proxy.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        proxy.start()
    with pytest.raises(TimeoutError):  # at once: a closed proxy never changes
        proxy.wait_for(lambda s: s.connections == 1, timeout=DEADLINE)


def test_a_new_proxy_can_take_the_port_of_a_closed_one(server: RedisServer) -> None:
    with FaultProxy(server.port) as first:
        port = first.port
        with redis.Redis(port=port) as client:
            assert client.ping()
    with FaultProxy(server.port, port=port) as second, redis.Redis(port=second.port) as client:
        assert client.ping()
