"""Counting dequeue attempts with MONITOR: how many calls of worqr's dequeue script one new
task causes among idle workers, between markers (``ECHO``) sent around each task."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import redis

MARK = "bench-mark-"


@dataclass
class Tally:
    """What the MONITOR stream showed so far, in server order."""

    events: list[str] = field(default_factory=list)
    last_attempt: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def between(self, start: str, end: str) -> int:
        with self.lock:
            events = list(self.events)
        first, last = events.index(MARK + start), events.index(MARK + end)
        return sum(1 for e in events[first:last] if e == "attempt")


class AttemptCounter:
    """A MONITOR connection, read by a thread, that counts ``EVALSHA <sha>`` calls."""

    def __init__(self, url: str, sha: str) -> None:
        self._client = redis.Redis.from_url(url, decode_responses=True)
        self._marker = redis.Redis.from_url(url)
        self._prefix = f"evalsha {sha}"
        self.tally = Tally()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, name="bench-monitor", daemon=True)

    def __enter__(self) -> AttemptCounter:
        self._thread.start()
        self._ready.wait(5)
        self.mark("ready")
        deadline = time.monotonic() + 5
        while not self._seen("ready") and time.monotonic() < deadline:
            time.sleep(0.005)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.mark("stop")  # wakes the reader
        self._thread.join(5)
        self._marker.close()
        self._client.close()

    def mark(self, name: str) -> None:
        self._marker.echo(MARK + name)

    def wait_marked(self, name: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._seen(name):
            if time.monotonic() > deadline:
                msg = f"MONITOR did not show the marker {name!r} within {timeout} s"
                raise RuntimeError(msg)
            time.sleep(0.002)

    def quiet_for(self, seconds: float, timeout: float) -> None:
        """Wait until no attempt was seen for ``seconds`` (at most ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.tally.lock:
                last = self.tally.last_attempt
            if time.monotonic() - last >= seconds:
                return
            time.sleep(0.005)

    def _seen(self, name: str) -> bool:
        with self.tally.lock:
            return MARK + name in self.tally.events

    def _read(self) -> None:
        with self._client.monitor() as monitor:  # type: ignore[no-untyped-call]
            self._ready.set()
            while not self._stop.is_set():
                command = str(monitor.next_command()["command"])
                lowered = command.lower()
                if lowered.startswith(self._prefix):
                    with self.tally.lock:
                        self.tally.events.append("attempt")
                        self.tally.last_attempt = time.monotonic()
                elif lowered.startswith("echo " + MARK):
                    with self.tally.lock:
                        self.tally.events.append(command.split(" ", 1)[1].strip("'\""))
