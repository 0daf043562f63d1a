"""``worqr dashboard``: the app on uvicorn, on a socket bound before it starts (so that
port 0 can say which port it got), until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn

from worqr import AsyncWorqr
from worqr.web.app import create_app


def serve(
    redis: str, prefix: str, *, host: str, port: int, allow_actions: bool, announce: Callable[[str], None]
) -> None:
    """Serve the dashboard of ``prefix`` on ``host:port``; ``announce`` gets its URL once it listens."""
    listening = socket.create_server((host, port))
    bound_host, bound_port = listening.getsockname()[:2]
    asyncio.run(_serve(redis, prefix, listening, allow_actions, lambda: announce(f"http://{bound_host}:{bound_port}/")))


class _Server(uvicorn.Server):
    """uvicorn's server, stopping gracefully on SIGINT or SIGTERM and then exiting with 0
    (uvicorn raises the signal again once it stopped, so the process would die of it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        def stop(signum: int, frame: FrameType | None) -> None:
            del signum, frame
            self.should_exit = True

        before = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)


async def _serve(
    redis: str, prefix: str, listening: socket.socket, allow_actions: bool, started: Callable[[], None]
) -> None:
    async with AsyncWorqr(redis=redis, prefix=prefix) as client:
        config = uvicorn.Config(
            create_app(client, allow_actions=allow_actions), log_level="warning", lifespan="off", access_log=False
        )
        server = _Server(config)
        started()
        await server.serve(sockets=[listening])
