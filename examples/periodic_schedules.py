"""Periodic schedules with no scheduler process: a schedule every half second and a daily
cron one in Berlin time; two runtime workers of the queue fire the first, each due time
once; an upsert keeps a schedule's next due time; a bad cron expression is refused.

    python examples/periodic_schedules.py

Uses the server at WORQR_REDIS_URL if set, else starts a private one. Cron schedules need
the cron extra (pip install 'worqr[cron]').
"""

from __future__ import annotations

import queue
import uuid

from worqr import InvalidArgumentError, Process, Worqr
from worqr.testing import server_url

with server_url() as url:
    prefix = f"schedules-{uuid.uuid4().hex[:8]}"
    admin = Worqr(redis=url, prefix=prefix)
    admin.schedule("heartbeat-report", "reports", "send report", every=0.5, overlap="skip")
    nightly = admin.schedule("nightly-backup", "reports", "backup", cron="0 3 * * *", tz="Europe/Berlin")
    again = admin.schedule("nightly-backup", "reports", "backup --full", cron="0 3 * * *", tz="Europe/Berlin")
    try:
        admin.schedule("broken", "reports", "x", cron="0 25 * * *")
    except InvalidArgumentError as exc:
        refused = str(exc)

    ran: queue.Queue[str] = queue.Queue()

    def run(process: Process[str]) -> None:
        ran.put(process.task)

    peers = [Worqr(redis=url, prefix=prefix) for _ in range(2)]
    workers = [peer.worker("reports", run) for peer in peers]
    for worker in workers:
        worker.start()
    tasks = [ran.get(timeout=10) for _ in range(3)]
    for worker in workers:
        worker.stop()
    report = next(s for s in admin.get_schedules() if s.name == "heartbeat-report")
    admin.remove_schedule("heartbeat-report")
    admin.remove_schedule("nightly-backup")
    print(
        f"periodic_schedules: ran {tasks}; at least 3 runs: {report.runs >= 3}; "
        f"next backup kept: {again.next_due == nightly.next_due} ({nightly.next_due:%H:%M} UTC); "
        f"refused: {refused.split(':', maxsplit=1)[0]}"
    )
    for client in (admin, *peers):
        client.close()
