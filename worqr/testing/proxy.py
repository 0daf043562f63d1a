"""`FaultProxy`: a TCP proxy on 127.0.0.1 between clients and one upstream server, that
injects network faults on demand, for tests and soaks that drive worqr through them.

A client connects to the proxy (``proxy.url_for(server.url)``); for each accepted
connection the proxy opens one connection to the upstream server and copies bytes both
ways: *to the server* (client -> server: the requests) and *to the client* (server ->
client: the replies). Standard library only: one selector thread, non-blocking sockets,
and one lock around the fault state and every socket operation, so that a fault method
that has returned is in force for every byte the proxy handles afterwards.

The faults, and what each models:

``delay(seconds)``
    Latency: each chunk is passed on ``seconds`` after the proxy read it, in both
    directions, so a round trip takes at least twice ``seconds``. Order is kept.
``partition()``
    A network that stops carrying packets and later recovers, TCP intact: nothing is
    passed on, in either direction; what the peers send is held by the proxy (and, past
    `HOLD_LIMIT` bytes per direction and connection, left in the kernel buffers, so a
    sender eventually blocks, as TCP flow control would make it); no FIN, no RST. `heal`
    delivers everything held, in order: nothing is lost, as TCP retransmission would
    ensure.
``blackhole()``
    A partition after which the far side is gone, or a half-open connection: nothing is
    passed on and everything sent meanwhile is dropped for good (in both directions,
    including what a partition or a delay held when it began); the sockets stay open, no
    FIN, no RST, so the peers cannot tell. After `heal`, bytes sent from then on flow
    again on the same connections, with a gap in each stream where the dropped bytes were.
``swallow_replies(count=None)``
    Lost replies: what the server sends is dropped (the next ``count`` chunks, or all of
    it until `heal`) while requests still reach the server, so a command runs on the
    server and its client never hears back.
``reset()``
    A middlebox or a peer restart sending RST: every live connection is closed at once
    with RST (``SO_LINGER`` 0) on both sides; whatever the proxy held for them is lost.
``refuse(on=True)``
    A server that refuses connections: a new connection is accepted, then reset at once,
    without an upstream connection.

What is not modelled, or only approximately:

- Faults act where the proxy reads and writes: bytes already handed to a destination's
  kernel buffer are past the fault and are delivered; bytes still in a source's kernel
  buffer are read later and meet the fault in force then.
- Granularity is the *chunk*: whatever one ``recv`` returns (up to `CHUNK` bytes). One
  reply may span several chunks, and several replies (pipelined commands, or commands
  of other clients on the same connection) may share one. ``swallow_replies(1)`` drops
  one chunk, not one reply; a test that wants "lose exactly the reply of one command"
  must make sure that command is the only traffic on that connection at that time.
- The TCP handshake is not faulted: during a partition or a blackhole a client's
  ``connect()`` still succeeds at once (the kernel accepts it), and the upstream
  connection is made; only the bytes are held or dropped. A real partition would make
  ``connect()`` hang.
- A peer's FIN is passed on (as a ``shutdown(SHUT_WR)`` of the other side) once every
  byte before it is delivered; during a partition or a blackhole it is held, and passed
  on at `heal`. A peer's RST (or an error writing to it) resets the other side too: at
  once, or at `heal` during a partition or a blackhole; bytes not yet delivered on that
  connection are lost.
- Each peer's TCP connection ends at the proxy, whose kernel acknowledges every segment
  and answers TCP keepalive probes: keepalive never detects a partition or a blackhole,
  and no retransmission timeout (``ETIMEDOUT``) ever ends a connection, however long the
  fault lasts. Only a peer's own timeouts (``socket_timeout``, heartbeats) notice it.
- There is no packet loss, reordering, corruption, bandwidth limit or MTU: a stream is
  delivered in order, or (blackhole, swallow) with whole chunks missing.
- `refuse` accepts then resets, so the client sees ``ECONNRESET`` (redis-py:
  ``ConnectionError``): from its first read or write, or from ``connect()`` itself if the
  RST comes before ``connect()`` returns; a real refusal fails ``connect()`` with
  ``ECONNREFUSED``. It concerns new connections only. The same happens to a client when
  the upstream connection cannot be made (the server is down).
- Faults are proxy-wide: each applies to every live connection and to new ones until it
  is lifted (`heal`, ``delay(0)``, ``refuse(False)``); there are no per-connection
  faults. `reset` is a single event and acts only on the connections live at the time.

`stats` and `wait_for` let a test wait for an event (a connection is up, a request is
held or dropped) instead of sleeping. A redis-py connection sends commands of its own when
it connects (``CLIENT SETINFO``), which meet the faults like any other traffic: connect
(``ping()``) before setting a fault, and count on no retry (``retry=Retry(NoBackoff(), 0)``)
if a test wants to see the fault as it is. `close` resets every connection still live.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import math
import selectors
import socket
import struct
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, TypeVar

from worqr.testing.server import free_port

#: Most bytes one ``recv`` reads: the granularity of every fault.
CHUNK = 65536
#: Most bytes the proxy holds per direction and connection (partition, delay, a slow
#: reader); beyond it the proxy stops reading that source, and the peer's kernel buffers
#: fill up, as they would behind a real partition.
HOLD_LIMIT = 1 << 20
#: How long `close` waits for the proxy's thread to end.
CLOSE_TIMEOUT = 10.0

_LOOPBACK = "127.0.0.1"
_MAX_PORT = 65535
_LINGER_RST = struct.pack("ii", 1, 0)

_T = TypeVar("_T")
_Mode = Literal["forward", "partition", "blackhole"]


@dataclass(frozen=True)
class ProxyStats:
    """A snapshot of a `FaultProxy`'s traffic. The byte counts are totals over every
    connection since the proxy started, except the ``held_*`` ones, which are what the
    proxy holds right now (read, not yet delivered: partition, delay, or a slow reader)."""

    connections: int
    """Live client connections (as `FaultProxy.connections`)."""
    accepted: int
    """Connections accepted and proxied (not counting refused ones)."""
    refused: int
    """Connections reset at once because `FaultProxy.refuse` was on."""
    upstream_failures: int
    """Connections reset because the upstream connection could not be made."""
    to_server: int
    """Bytes delivered to the server."""
    to_client: int
    """Bytes delivered to the clients."""
    held_to_server: int
    held_to_client: int
    dropped_to_server: int
    """Bytes dropped by `FaultProxy.blackhole`."""
    dropped_to_client: int
    """Bytes dropped by `FaultProxy.blackhole` or `FaultProxy.swallow_replies`."""


def _abort(sock: socket.socket) -> None:
    """Close ``sock`` with RST, not FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    sock.close()


def _no_delay(sock: socket.socket) -> None:
    """Pass small chunks on at once: no Nagle wait on top of the faults."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Direction:
    """One direction of a connection: what was read from ``src``, due to go to ``dst``."""

    def __init__(self, src: socket.socket, dst: socket.socket, *, to_server: bool) -> None:
        self.src = src
        self.dst = dst
        self.to_server = to_server
        self.pending: deque[tuple[float, memoryview]] = deque()  # (due time, bytes)
        self.held = 0
        self.eof = False  # src sent FIN
        self.shut = False  # FIN passed on to dst
        self.blocked = False  # dst's send buffer was full at the last try

    def drop_pending(self) -> int:
        dropped = self.held
        self.pending.clear()
        self.held = 0
        return dropped


class _Connection:
    def __init__(self, client: socket.socket, upstream: socket.socket, *, connecting: bool) -> None:
        self.client = client
        self.upstream = upstream
        self.connecting = connecting  # the upstream connect is in progress
        self.reset_pending = False  # a peer reset during a partition: reset both at heal
        self.closed = False
        self.to_server = _Direction(client, upstream, to_server=True)
        self.to_client = _Direction(upstream, client, to_server=False)
        self.masks: dict[socket.socket, int] = {client: 0, upstream: 0}

    @property
    def directions(self) -> tuple[_Direction, _Direction]:
        return (self.to_server, self.to_client)


class FaultProxy:
    """A TCP proxy between clients and one upstream server (host, port) on 127.0.0.1,
    listening on a free port (or ``port``) of 127.0.0.1, with faults on demand.

    Use it as a context manager (or `start` / `close`)::

        with RedisServer() as server, FaultProxy(server.port) as proxy:
            client = redis.Redis.from_url(proxy.url_for(server.url))
            client.ping()
            proxy.partition()
            ...
            proxy.heal()

    Each fault applies to the live connections and to new ones until it is lifted; the
    fault methods may be called before `start`, from any thread, and a fault is in force
    for every byte the proxy handles after its method returned. The module docstring
    says what is and is not modelled.
    """

    def __init__(self, upstream_port: int, *, upstream_host: str = _LOOPBACK, port: int | None = None) -> None:
        for name, value in (("upstream_port", upstream_port), ("port", port)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_PORT
            ):
                raise ValueError(f"{name} must be a TCP port number (1..65535), not {value!r}")
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self._upstream_family, self._upstream_address = _loopback_address(upstream_host, upstream_port)
        self.port: int = port or free_port()
        self.address: tuple[str, int] = (_LOOPBACK, self.port)

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._mode: _Mode = "forward"
        self._delay = 0.0
        self._swallowing = False
        self._swallow_left: int | None = None
        self._refusing = False
        self._conns: list[_Connection] = []
        self._counts = dict.fromkeys(
            (
                "accepted",
                "refused",
                "upstream_failures",
                "to_server",
                "to_client",
                "dropped_to_server",
                "dropped_to_client",
            ),
            0,
        )

        self._selector: selectors.BaseSelector | None = None
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._closed = False
        self._error: BaseException | None = None

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Listen on `address` and start forwarding (in one daemon thread)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this FaultProxy is closed; make a new one")
            if self._thread is not None:
                raise RuntimeError("this FaultProxy is already started")
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(self.address)
                listener.listen(128)
                listener.setblocking(False)
            except BaseException:
                listener.close()
                raise
            wake_r, wake_w = socket.socketpair()
            wake_r.setblocking(False)
            wake_w.setblocking(False)
            selector = selectors.DefaultSelector()
            selector.register(listener, selectors.EVENT_READ, None)
            selector.register(wake_r, selectors.EVENT_READ, None)
            self._listener, self._wake_r, self._wake_w, self._selector = listener, wake_r, wake_w, selector
            self._thread = threading.Thread(target=self._run, name=f"worqr-fault-proxy:{self.port}", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Reset every live connection (as `reset`), stop listening, and end the proxy's
        thread. Raises what the thread died of, if it did (a bug in the proxy)."""
        with self._lock:
            if self._closed:
                return
            self._closing = True
            self._wake()
        thread = self._thread
        if thread is not None:
            thread.join(CLOSE_TIMEOUT)
            if thread.is_alive():
                raise RuntimeError(f"the FaultProxy thread did not end within {CLOSE_TIMEOUT} s")
        with self._lock:
            for conn in list(self._conns):
                self._reset_connection(conn)
            for sock in (self._listener, self._wake_r, self._wake_w):
                if sock is not None:
                    sock.close()
            if self._selector is not None:
                self._selector.close()
            self._listener = self._wake_r = self._wake_w = None
            self._selector = None
            self._closed = True
            self._changed.notify_all()
        if self._error is not None:
            raise RuntimeError("the FaultProxy thread failed") from self._error

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- addresses --------------------------------------------------------------------

    def url_for(self, url: str) -> str:
        """``url`` (``redis://`` or ``rediss://``) with its host and port replaced by the
        proxy's; the user, password, database and query are kept."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"url_for needs a redis:// or rediss:// URL, not {url!r}")
        userinfo, at, _ = parts.netloc.rpartition("@")
        netloc = f"{userinfo}{at}{_LOOPBACK}:{self.port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    # -- observing --------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Live client connections: accepted, and neither closed by both peers (a FIN each
        way) nor reset (by a peer, `reset` or `close`). That includes a connection whose
        upstream connection is still being made, a half-closed one (one peer sent FIN, the
        other has not), and one whose peer closed it during a partition or a blackhole
        (until `heal` passes the FIN or RST on)."""
        with self._lock:
            return len(self._conns)

    def stats(self) -> ProxyStats:
        """A snapshot of the connections and the bytes delivered, held and dropped."""
        with self._lock:
            return self._stats()

    def wait_for(self, predicate: Callable[[ProxyStats], bool], timeout: float = 10.0) -> ProxyStats:
        """Wait until ``predicate(stats)`` holds (checked whenever the proxy's state
        changes) and return those stats; raise `TimeoutError` after ``timeout`` s, or at
        once once the proxy is closed."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                stats = self._stats()
                if predicate(stats):
                    return stats
                if self._error is not None:
                    raise RuntimeError("the FaultProxy thread failed") from self._error
                if self._closed:
                    raise TimeoutError(f"FaultProxy is closed: the condition cannot be met; last stats: {stats}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"FaultProxy: condition not met within {timeout} s; last stats: {stats}")
                self._changed.wait(left)

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> None:
        """Wait until exactly ``count`` client connections are live."""
        self.wait_for(lambda stats: stats.connections == count, timeout)

    # -- faults -----------------------------------------------------------------------

    def delay(self, seconds: float) -> None:
        """Pass each chunk on ``seconds`` after the proxy read it, in both directions
        (0 = off), so a round trip takes at least ``2 * seconds``. A chunk's due time is
        fixed when it is read; order is kept, so a chunk never overtakes one read before
        it (lowering the delay does not hurry chunks already waiting)."""
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ValueError(f"delay needs a finite number of seconds >= 0, not {seconds!r}")
        with self._lock:
            self._delay = float(seconds)
            self._wake()

    def partition(self) -> None:
        """Stop forwarding in both directions, keeping TCP intact (no FIN, no RST): what
        the peers send meanwhile is held, and delivered in order at `heal`. Peers' FINs
        and RSTs are held too. Ends a blackhole (bytes already dropped stay dropped)."""
        with self._lock:
            self._mode = "partition"
            self._wake()

    def blackhole(self) -> None:
        """Stop forwarding and drop everything sent meanwhile, in both directions, for
        good; what the proxy held when it began (a partition, a delay) is dropped too. The
        sockets stay open, no FIN, no RST: the peers cannot tell. A command sent during it
        never gets its reply, even after `heal` (its client times out)."""
        with self._lock:
            self._mode = "blackhole"
            for conn in self._conns:
                self._count_dropped(conn.to_server, conn.to_server.drop_pending())
                self._count_dropped(conn.to_client, conn.to_client.drop_pending())
            self._wake()

    def swallow_replies(self, count: int | None = None) -> None:
        """Drop what the server sends (the next ``count`` chunks read from the server,
        over all connections, or everything until `heal`), while requests still reach
        the server: a command runs there and its client never hears back. Works at chunk
        granularity (see the module docstring): it drops whatever the server sends while
        it is on, so to lose exactly one command's reply, that command must be the only
        traffic on its connection. Chunks read before the call are not dropped, and a
        server's FIN is passed on."""
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ValueError(f"swallow_replies needs a count >= 1 or None (all until heal), not {count!r}")
        with self._lock:
            self._swallowing = True
            self._swallow_left = count
            self._wake()

    def heal(self) -> None:
        """End a partition, a blackhole and swallowing: forwarding resumes on every
        connection, and what a partition held (bytes, then FIN or RST) is delivered. A
        delay and `refuse` stay as they are."""
        with self._lock:
            self._mode = "forward"
            self._swallowing = False
            self._swallow_left = None
            for conn in list(self._conns):
                if conn.reset_pending:
                    self._reset_connection(conn)
            self._wake()

    def reset(self) -> None:
        """Close every live connection now, abruptly, with RST (``SO_LINGER`` 0) to both
        the client and the server; what the proxy held for them is lost. New connections
        are proxied as usual (see `refuse` to turn them away)."""
        with self._lock:
            for conn in list(self._conns):
                self._reset_connection(conn)
            self._wake()

    def refuse(self, on: bool = True) -> None:
        """While on, accept each new connection and reset it (RST) at once, without
        connecting upstream: the client sees ``ECONNRESET`` at its first read or write
        (or in ``connect()``, if the RST is quicker). Live connections are not affected.
        ``refuse(False)`` turns it off."""
        with self._lock:
            self._refusing = bool(on)
            self._wake()

    # -- the loop (everything below runs with the lock held) ---------------------------

    def _wake(self) -> None:
        """Make the loop look at the fault state again (and `wait_for` at the stats)."""
        self._changed.notify_all()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
                self._wake_w.send(b"\0")

    @staticmethod
    def _started(resource: _T | None) -> _T:
        if resource is None:
            raise RuntimeError("the FaultProxy is not running")
        return resource

    def _stats(self) -> ProxyStats:
        c = self._counts
        return ProxyStats(
            connections=len(self._conns),
            accepted=c["accepted"],
            refused=c["refused"],
            upstream_failures=c["upstream_failures"],
            to_server=c["to_server"],
            to_client=c["to_client"],
            held_to_server=sum(conn.to_server.held for conn in self._conns),
            held_to_client=sum(conn.to_client.held for conn in self._conns),
            dropped_to_server=c["dropped_to_server"],
            dropped_to_client=c["dropped_to_client"],
        )

    def _count_dropped(self, direction: _Direction, n: int) -> None:
        self._counts["dropped_to_server" if direction.to_server else "dropped_to_client"] += n

    def _run(self) -> None:
        selector = self._started(self._selector)
        try:
            timeout: float | None = None
            while True:
                events = selector.select(timeout)
                with self._lock:
                    if self._closing:
                        return
                    now = time.monotonic()
                    for key, mask in events:
                        self._on_event(key.fileobj, key.data, mask, now)
                    self._pump(now)
                    timeout = self._arm(now)
                    self._changed.notify_all()
        except BaseException as exc:  # noqa: BLE001 (a bug: kept for close() and wait_for to raise)
            self._error = exc
            with self._lock:
                self._changed.notify_all()

    def _on_event(self, fileobj: object, conn: _Connection | None, mask: int, now: float) -> None:
        if conn is None:
            if fileobj is self._listener:
                self._accept()
            elif fileobj is self._wake_r:
                self._drain_wake()
            return
        if conn.closed:
            return
        if conn.connecting:
            if fileobj is conn.upstream and mask & selectors.EVENT_WRITE:
                self._connected(conn)
            elif fileobj is conn.client and mask & selectors.EVENT_READ:
                self._read(conn, conn.to_server, now)
            return
        if mask & selectors.EVENT_READ:
            self._read(conn, conn.to_server if fileobj is conn.client else conn.to_client, now)

    def _drain_wake(self) -> None:
        wake_r = self._started(self._wake_r)
        try:
            while wake_r.recv(4096):
                pass
        except OSError:  # drained (BlockingIOError)
            pass

    def _accept(self) -> None:
        listener = self._started(self._listener)
        while True:
            try:
                client, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ECONNABORTED and the like: that client gave up
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    return
                continue
            if self._refusing:
                self._counts["refused"] += 1
                _abort(client)
                continue
            client.setblocking(False)
            _no_delay(client)
            upstream = socket.socket(self._upstream_family, socket.SOCK_STREAM)
            upstream.setblocking(False)
            _no_delay(upstream)
            err = upstream.connect_ex(self._upstream_address)
            if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                self._counts["upstream_failures"] += 1
                upstream.close()
                _abort(client)
                continue
            self._counts["accepted"] += 1
            self._conns.append(_Connection(client, upstream, connecting=err != 0))

    def _connected(self, conn: _Connection) -> None:
        err = conn.upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._counts["upstream_failures"] += 1
            self._reset_connection(conn)
        else:
            conn.connecting = False

    def _read(self, conn: _Connection, direction: _Direction, now: float) -> None:
        try:
            data = direction.src.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # the peer reset the connection
            self._peer_reset(conn)
            return
        if not data:
            direction.eof = True
            return
        if self._mode == "blackhole":
            self._count_dropped(direction, len(data))
        elif not direction.to_server and self._swallowing:
            self._count_dropped(direction, len(data))
            if self._swallow_left is not None:
                self._swallow_left -= 1
                if self._swallow_left == 0:
                    self._swallowing = False
                    self._swallow_left = None
        else:
            direction.pending.append((now + self._delay, memoryview(data)))
            direction.held += len(data)

    def _peer_reset(self, conn: _Connection) -> None:
        if self._mode == "forward":
            self._reset_connection(conn)
            return
        conn.reset_pending = True  # passed on at heal, like everything else
        for direction in conn.directions:
            if self._mode == "blackhole":
                self._count_dropped(direction, direction.drop_pending())
            else:
                direction.drop_pending()

    def _pump(self, now: float) -> None:
        """Deliver what is due, and the FINs behind it."""
        if self._mode != "forward":
            return
        for conn in list(self._conns):
            if conn.connecting or conn.reset_pending:
                continue
            if not (self._flush(conn, conn.to_server, now) and self._flush(conn, conn.to_client, now)):
                continue  # it was reset
            if conn.to_server.shut and conn.to_client.shut:
                self._finish(conn)

    def _flush(self, conn: _Connection, direction: _Direction, now: float) -> bool:
        """Send what is due in ``direction``; False if that reset the connection."""
        direction.blocked = False
        key = "to_server" if direction.to_server else "to_client"
        while direction.pending and direction.pending[0][0] <= now:
            due, data = direction.pending[0]
            try:
                sent = direction.dst.send(data)
            except (BlockingIOError, InterruptedError):
                direction.blocked = True
                return True
            except OSError:  # the destination is gone
                self._reset_connection(conn)
                return False
            direction.held -= sent
            self._counts[key] += sent
            if sent == len(data):
                direction.pending.popleft()
            else:
                direction.pending[0] = (due, data[sent:])
        if direction.eof and not direction.pending and not direction.shut:
            try:
                direction.dst.shutdown(socket.SHUT_WR)
            except OSError:
                self._reset_connection(conn)
                return False
            direction.shut = True
        return True

    def _arm(self, now: float) -> float | None:
        """Register each socket for what it waits for; the time until the next due chunk."""
        timeout: float | None = None
        for conn in self._conns:
            if conn.reset_pending:
                client_mask = upstream_mask = 0
            else:
                up, down = conn.to_server, conn.to_client
                client_mask = self._read_mask(up)
                upstream_mask = selectors.EVENT_WRITE if conn.connecting else self._read_mask(down)
                if self._mode == "forward" and not conn.connecting:
                    client_mask |= selectors.EVENT_WRITE if down.blocked else 0
                    upstream_mask |= selectors.EVENT_WRITE if up.blocked else 0
                    for direction in (up, down):
                        if direction.pending and not direction.blocked:
                            wait = max(0.0, direction.pending[0][0] - now)
                            timeout = wait if timeout is None else min(timeout, wait)
            self._register(conn, conn.client, client_mask)
            self._register(conn, conn.upstream, upstream_mask)
        return timeout

    @staticmethod
    def _read_mask(direction: _Direction) -> int:
        return selectors.EVENT_READ if not direction.eof and direction.held < HOLD_LIMIT else 0

    def _register(self, conn: _Connection, sock: socket.socket, mask: int) -> None:
        old = conn.masks[sock]
        if mask == old:
            return
        selector = self._started(self._selector)
        if old == 0:
            selector.register(sock, mask, conn)
        elif mask == 0:
            selector.unregister(sock)
        else:
            selector.modify(sock, mask, conn)
        conn.masks[sock] = mask

    def _forget(self, conn: _Connection) -> None:
        conn.closed = True
        for sock, mask in conn.masks.items():
            if mask and self._selector is not None:
                self._selector.unregister(sock)
            conn.masks[sock] = 0
        self._conns.remove(conn)

    def _reset_connection(self, conn: _Connection) -> None:
        self._forget(conn)
        _abort(conn.client)
        _abort(conn.upstream)
        self._changed.notify_all()

    def _finish(self, conn: _Connection) -> None:
        """Both peers sent FIN and got it: close both sockets."""
        self._forget(conn)
        conn.client.close()
        conn.upstream.close()


def _loopback_address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    """The family and address of ``host`` (which must be a loopback address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve the upstream host {host!r}: {exc}") from exc
    for family, _, _, _, address in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and ipaddress.ip_address(address[0]).is_loopback:
            return family, (str(address[0]), port)
    raise ValueError(f"the upstream host must be a loopback address (the proxy is loopback only), not {host!r}")
