"""An OS process campaigning for a leadership, driven by tests/scenarios/test_leader_processes.py.

    python leader_child.py URL PREFIX NAME TTL

Its worker id is "leader-<pid>". Prints "ready" once its worker started, then one line per
event of the campaign: "elected <worker id> <token>" and "lost <worker id> <token>".
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

from worqr import Term, Worqr


def main() -> None:
    url, prefix, name, ttl = sys.argv[1:5]
    client = Worqr(
        redis=url,
        prefix=prefix,
        worker_id=f"leader-{os.getpid()}",
        heartbeat_interval=0.2,
        worker_timeout=1.0,
        cleanup_interval=0.5,
    )
    client.start_worker()

    def say(event: str) -> Callable[[Term], None]:
        return lambda term: print(event, term.holder, term.token, flush=True)

    client.leader(name, ttl=float(ttl), on_elected=say("elected"), on_lost=say("lost"))
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
