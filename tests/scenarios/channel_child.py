"""An OS process that is the server end of a channel and echoes every message, driven by
tests/scenarios/test_channel_processes.py.

    python channel_child.py URL PREFIX CHANNEL NAME

One client (a worker, id NAME) listens on CHANNEL and answers each message ``m`` with
``echo:m``, in order. An end that finds itself lost (its worker declared dead, or its hold
on the end run out while it was paused) starts its worker again and listens again, as a
runtime would. Prints "ready" once it listens.
"""

from __future__ import annotations

import sys

from worqr import ChannelMessage, ChannelNotConnectedError, WorkerLostError, Worqr

#: The children's timings (the test's too): a paused or killed end is given up within
#: WORKER_TIMEOUT, its worker reaped within a CLEANUP_INTERVAL more.
WORKER_TIMEOUT, CLEANUP_INTERVAL, HEARTBEAT_INTERVAL, POLL_INTERVAL = 1.0, 0.3, 0.2, 0.5


def serve(client: Worqr, name: str) -> None:
    server = client.channel(name).listen()
    print("ready", flush=True)
    for event in server:
        if isinstance(event, ChannelMessage):
            server.send(f"echo:{event.data}")


def main() -> None:
    url, prefix, channel, name = sys.argv[1:5]
    client = Worqr(
        redis=url,
        prefix=prefix,
        worker_id=name,
        heartbeat_interval=HEARTBEAT_INTERVAL,
        worker_timeout=WORKER_TIMEOUT,
        cleanup_interval=CLEANUP_INTERVAL,
        poll_interval=POLL_INTERVAL,
    )
    while True:
        try:
            client.start_worker()  # at first, and after it was declared dead: a new incarnation
            serve(client, channel)
        except (WorkerLostError, ChannelNotConnectedError):
            continue


if __name__ == "__main__":
    main()
