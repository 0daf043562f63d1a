"""A channel whose server end is a real process (channel_child.py, an echo), SIGKILLed and
SIGSTOPped past its timeout while the client end in this process goes on sending.

What must hold: the client end gets ``remote:disconnect`` for each loss within
``worker_timeout`` plus the reap interval (and a little for the scheduler), and
``remote:connect`` when the end is back; every message sent, during the absences too, is
echoed at least once, and the echoes come in the order the messages were sent (a message
whose echo was sent by an end killed before it acknowledged the message is echoed again,
right after: nothing is skipped, nothing reordered).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.scenarios import channel_child
from worqr import Channel, ChannelMessage, ChannelNotice, Worqr

pytestmark = pytest.mark.slow

CHILD = str(Path(channel_child.__file__))
CHANNEL = "echo"
#: Loss of the server end to ``remote:disconnect`` at the client: the end's hold runs out
#: (worker_timeout after its last renewal) or peers reap it; SLACK is the scheduler's share.
BOUND = channel_child.WORKER_TIMEOUT + channel_child.CLEANUP_INTERVAL
SLACK = 1.5
PAUSE_SECONDS = 2.5 * channel_child.WORKER_TIMEOUT
DEADLINE = 60.0


@dataclass
class Client:
    """The client end, and all it saw: the echoes, and each notice with its time."""

    channel: Channel[str]
    echoes: list[int] = field(default_factory=list)
    notices: list[tuple[str, str, float]] = field(default_factory=list)

    def read_until(self, done: object, what: str) -> None:
        """Read events until ``done()`` is true (DEADLINE at most)."""
        deadline = time.monotonic() + DEADLINE
        while not done():  # type: ignore[operator]
            assert time.monotonic() < deadline, f"not seen within {DEADLINE} s: {what}; saw {self.notices}"
            event = self.channel.next(timeout=0.5)
            if isinstance(event, ChannelMessage):
                self.echoes.append(int(event.data.removeprefix("echo:")))
            elif isinstance(event, ChannelNotice):
                self.notices.append((event.type, event.remote, time.monotonic()))

    def echoed_through(self, last: int) -> bool:
        return set(range(last + 1)) <= set(self.echoes)

    def saw(self, kind: str, remote: str, after: float) -> float | None:
        return next((t for k, r, t in self.notices if (k, r) == (kind, remote) and t >= after), None)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    made: list[subprocess.Popen[str]] = []
    try:
        yield made
    finally:
        for popen in made:
            if popen.poll() is None:
                popen.send_signal(signal.SIGCONT)
                popen.kill()
            popen.wait(DEADLINE)
            assert popen.stdout is not None
            popen.stdout.close()


def spawn(url: str, prefix: str, name: str, children: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    popen = subprocess.Popen([sys.executable, CHILD, url, prefix, CHANNEL, name], stdout=subprocess.PIPE, text=True)
    children.append(popen)
    assert popen.stdout is not None
    assert popen.stdout.readline().strip() == "ready", f"{name} exited with {popen.wait(DEADLINE)}"
    return popen


def test_a_killed_or_paused_end_gives_remote_disconnect_and_no_message_is_lost_or_reordered(
    redis_url: str, worqr_prefix: str, children: list[subprocess.Popen[str]]
) -> None:
    with Worqr(
        redis=redis_url,
        prefix=worqr_prefix,
        heartbeat_interval=channel_child.HEARTBEAT_INTERVAL,
        worker_timeout=channel_child.WORKER_TIMEOUT,
        cleanup_interval=channel_child.CLEANUP_INTERVAL,
        poll_interval=channel_child.POLL_INTERVAL,
    ) as wq:
        wq.start_worker()  # the client end's worker, and the reaper of the dead server ends
        first = spawn(redis_url, worqr_prefix, "s1", children)
        client = Client(wq.channel(CHANNEL).connect())
        client.read_until(lambda: client.saw("remote:connect", "s1", 0), "s1 connects")
        sent = 0

        def send(count: int) -> None:
            nonlocal sent
            for _ in range(count):
                client.channel.send(str(sent))
                sent += 1

        send(100)
        client.read_until(lambda: client.echoed_through(99), "the first echoes")

        # SIGKILL while it echoes; the client end goes on sending while the server is away.
        send(100)
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait(DEADLINE)
        send(50)
        client.read_until(lambda: client.saw("remote:disconnect", "s1", 0), "s1's disconnect")
        kill_gap = client.saw("remote:disconnect", "s1", 0) - killed_at  # type: ignore[operator]
        second = spawn(redis_url, worqr_prefix, "s2", children)
        client.read_until(lambda: client.echoed_through(sent - 1), "every echo after the kill")
        assert client.saw("remote:connect", "s2", killed_at) is not None

        # SIGSTOP past its timeout: peers give its end up; thawed, it finds out and listens again.
        send(50)
        second.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        send(50)
        client.read_until(lambda: client.saw("remote:disconnect", "s2", stopped_at), "s2's disconnect")
        pause_gap = client.saw("remote:disconnect", "s2", stopped_at) - stopped_at  # type: ignore[operator]
        time.sleep(max(0.0, stopped_at + PAUSE_SECONDS - time.monotonic()))  # a pause, not a synchronization
        second.send_signal(signal.SIGCONT)
        thawed_at = time.monotonic()
        client.read_until(lambda: client.saw("remote:connect", "s2", thawed_at), "s2 back")
        send(50)
        client.read_until(lambda: client.echoed_through(sent - 1), "every echo after the pause")

    assert kill_gap < BOUND + SLACK, f"remote:disconnect {kill_gap:.2f} s after the SIGKILL"
    assert pause_gap < BOUND + SLACK, f"remote:disconnect {pause_gap:.2f} s after the SIGSTOP"
    assert sorted(set(client.echoes)) == list(range(sent))  # every message, none skipped
    assert client.echoes == sorted(client.echoes), "echoes out of order"  # a repeat comes right after its first
    assert [k for k, _, _ in client.notices] == [
        "remote:connect",
        "remote:disconnect",
        "remote:connect",
        "remote:disconnect",
        "remote:connect",
    ]
