"""Leader election with fencing tokens: two workers campaign for "feed-reader"; the leader
writes to a ledger through a fenced script; it steps down and the standby is elected at
once; the old leader's late write, with its stale token, is refused.

    python examples/leader_election.py

Uses the server at WORQR_REDIS_URL if set, else starts a private one.
"""

from __future__ import annotations

import queue
import uuid

import redis

from worqr import Term, Worqr
from worqr.leases import FENCE_LUA
from worqr.testing import server_url

WRITE = (
    FENCE_LUA
    + """
if not fence_current(KEYS[1], ARGV[1]) then
  return 0
end
redis.call("RPUSH", KEYS[2], ARGV[2])
return 1
"""
)

with server_url() as url:
    prefix = f"leader-{uuid.uuid4().hex[:8]}"
    one, two = Worqr(redis=url, prefix=prefix), Worqr(redis=url, prefix=prefix)
    one.start_worker()
    two.start_worker()
    elected: queue.Queue[Term] = queue.Queue()
    first = one.leader("feed-reader", on_elected=elected.put)
    old = elected.get(timeout=10)
    second = two.leader("feed-reader", on_elected=elected.put)

    raw = redis.Redis.from_url(url, decode_responses=True)
    write = raw.register_script(WRITE)
    key = one.lease("feed-reader").fence_key
    ledger = one.lease("feed-reader").keys.tag + ":ledger"  # the lease's hash tag: one slot on a cluster
    accepted = write(keys=[key, ledger], args=[old.token, "event 1"])

    first.close()  # step down: the standby is elected at once
    new = elected.get(timeout=10)
    late = write(keys=[key, ledger], args=[old.token, "event 2 (late)"])
    fresh = write(keys=[key, ledger], args=[new.token, "event 2"])
    who = "two" if second.leader() == two.worker_id else "?"
    print(
        f"leader_election: leader one (token {old.token}) wrote {accepted}; stepped down; "
        f"{who} elected (token {new.token}); stale write refused: {late == 0}; "
        f"ledger {raw.lrange(ledger, 0, -1)}"
    )
    second.close()
    raw.close()
    one.close()
    two.close()
