"""What the local topologies share: starting servers on free loopback ports, waiting for a
condition with a deadline, and admin clients. Every wait polls a condition every 50 ms up to
a deadline and then raises `TopologyError` saying what was last seen."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from worqr.testing.server import RedisServer

HOST = "127.0.0.1"
SLOTS = 16384
POLL_SECONDS = 0.05
MIN_TIMEOUT_MS = 50
LOG = "server.log"
COMMON_ARGS = ("--repl-diskless-sync-delay", "0", "--logfile", LOG)

Role = Literal["primary", "replica"]


class TopologyError(RuntimeError):
    """A local cluster or sentinel setup did not start, or did not reach the asked-for state in time."""


def new_server(port: int, extra_args: Sequence[str]) -> RedisServer:
    return RedisServer(port=port, extra_args=[*COMMON_ARGS, *extra_args])


def log_tail(directory: str, lines: int = 5) -> str:
    try:
        text = (Path(directory) / LOG).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def start(server: RedisServer, what: str, timeout: float) -> None:
    """Start ``server``; on failure raise `TopologyError` with the end of its log."""
    try:
        server.start(timeout=max(timeout, 1.0))
    except RuntimeError as exc:
        msg = (
            f"{what} ({server.binary} on port {server.port}) did not start: {exc}; its log ends: {log_tail(server.dir)}"
        )
        raise TopologyError(msg) from exc


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def check_int(name: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an int >= {least}, got {value!r}")


def remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def wait_until(check: Callable[[], str | None], timeout: float, what: str) -> None:
    """Poll ``check`` (None once satisfied, else what is still wrong) until it holds; else raise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            problem = check()
        except redis.RedisError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem is None:
            return
        if time.monotonic() >= deadline:
            msg = f"{what} within {timeout:.1f} s; last seen: {problem}"
            raise TopologyError(msg)
        time.sleep(POLL_SECONDS)


def info_field(info: str, name: str) -> str | None:
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return value.strip()
    return None


def as_dict(reply: Mapping[Any, Any] | Sequence[Any]) -> dict[str, str]:
    """A map reply (RESP3) or flat ``[key, value, ...]`` reply (RESP2) as a dict of strings."""
    if isinstance(reply, Mapping):
        return {str(key): str(value) for key, value in reply.items()}
    return {str(reply[i]): str(reply[i + 1]) for i in range(0, len(reply), 2)}


class AdminClients:
    """One plain client per port for polling and control: short timeouts, no retries."""

    def __init__(self) -> None:
        self._clients: dict[int, redis.Redis] = {}

    def __call__(self, port: int) -> redis.Redis:
        if port not in self._clients:
            self._clients[port] = redis.Redis(
                host=HOST, port=port, decode_responses=True, socket_timeout=5.0,
                socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0),
            )  # fmt: skip
        return self._clients[port]

    def run(self, port: int, *args: Any) -> Any:
        """Send one command to the server on ``port``; the raw reply."""
        return self(port).execute_command(*args)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
