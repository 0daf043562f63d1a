"""An OS process of lease contenders, driven by tests/scenarios/test_lease_exclusion.py and
``python -m bench.leases``.

    python lease_child.py URL PREFIX LEASE JOURNAL CONTENDERS TTL

Runs CONTENDERS threads, each with a client (a worker) of its own, contending for the lease
LEASE forever: acquire; while ``term.alive``, write to a fenced resource with the term's
token and note the moment, now and then releasing; once the term is over, try one more
write with its token, as a zombie would. The journal is a file of JSON lines, each written
with one ``os.write`` on an O_APPEND descriptor (several processes share it; a SIGKILL loses
nothing written before it), all times on CLOCK_MONOTONIC, which every process shares:
    {"ev": "held", "who", "token", "t"}       the first moment the term was seen alive
    {"ev": "alive", "who", "token", "t"}      a moment the term was alive
    {"ev": "over", "who", "token", "t"}       the moment it was found over
A moment is one monotonic reading, and the term is judged alive at it by
``t < term.alive_until()`` (what ``term.alive`` computes, for that very reading): reading the
clock after ``term.alive`` would date the check late by any pause in between.
    {"ev": "write", "who", "token", "ok", "latest", "zombie"}  a fenced write, accepted or
        refused, with the last token issued for the lease when it ran
The resource is a Redis list that a script appends a token to only while ``fence_current``
says it is current (worqr.leases.FENCE_LUA). Prints "ready" once every contender started.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import threading
import time
from typing import Any

import redis

from worqr import Worqr, WorqrError
from worqr.leases import FENCE_LUA

WRITE = (
    FENCE_LUA
    + """
local latest = tonumber(redis.call("GET", KEYS[3]) or "0")
if not fence_current(KEYS[1], ARGV[1]) then
  return {0, latest}
end
redis.call("RPUSH", KEYS[2], ARGV[1])
return {1, latest}
"""
)


class Journal:
    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, **record: Any) -> None:
        os.write(self._fd, (json.dumps(record) + "\n").encode())


def contend(
    url: str, prefix: str, name: str, journal: Journal, *, who: str, ttl: float, ready: threading.Barrier
) -> None:
    client = Worqr(
        redis=url, prefix=prefix, worker_id=who, heartbeat_interval=0.2, worker_timeout=1.0, cleanup_interval=0.5
    )
    client.start_worker()
    raw = redis.Redis.from_url(url)
    write = raw.register_script(WRITE)
    lease = client.lease(name, ttl=ttl)
    resource = lease.keys.tag + ":resource"
    ready.wait()
    rng = random.Random(who)
    while True:
        try:
            term = lease.acquire(timeout=5.0)
        except WorqrError:
            time.sleep(0.05)  # the worker was lost (paused, say): the runtime would rejoin; so do we
            with contextlib.suppress(WorqrError):
                client.start_worker()
            continue
        if term is None:
            continue
        t = time.monotonic()
        if not t < term.alive_until():
            continue
        journal.write(ev="held", who=who, token=term.token, t=t)
        hold_for = time.monotonic() + rng.uniform(0.05, 1.5 * ttl)
        while True:
            t = time.monotonic()
            ok = t < term.alive_until()  # `term.alive` as of the instant t (a pause after t changes nothing)
            if not ok:
                journal.write(ev="over", who=who, token=term.token, t=t)
                break
            journal.write(ev="alive", who=who, token=term.token, t=t)
            try:
                accepted, latest = write(keys=[lease.fence_key, resource, lease.keys.token], args=[term.token])
                journal.write(ev="write", who=who, token=term.token, ok=accepted, latest=latest, zombie=False)
            except redis.RedisError:
                pass
            if t > hold_for:
                lease.release()
                continue
            time.sleep(rng.uniform(0.005, 0.03))
        try:  # the late write of a holder whose term is over: the resource must refuse it if stale
            accepted, latest = write(keys=[lease.fence_key, resource, lease.keys.token], args=[term.token])
            journal.write(ev="write", who=who, token=term.token, ok=accepted, latest=latest, zombie=True)
        except redis.RedisError:
            pass


def main() -> None:
    url, prefix, name, path, contenders, ttl = sys.argv[1:7]
    journal = Journal(path)
    ready = threading.Barrier(int(contenders) + 1)
    for i in range(int(contenders)):
        who = f"{os.getpid()}-{i}"
        options = {"who": who, "ttl": float(ttl), "ready": ready}
        threading.Thread(
            target=contend, args=(url, prefix, name, journal), kwargs=options, name=who, daemon=True
        ).start()
    ready.wait()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
