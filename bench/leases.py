"""The benchmark of leases: how soon a standby holds a lease once its holder let go, beside
the raw round trip of the same server, in one run on one private server (progress to stderr).

    python -m bench.leases [--releases N] [--kills N] [--ttl S]

- clean release: two workers in this process, one holding, one waiting in ``acquire()``;
  from the holder's ``release()`` call to the standby's ``acquire()`` returning (N times);
- SIGKILL: the holder in a child process (default client settings: heartbeat 1 s,
  worker_timeout 3 s, cleanup_interval 10 s), killed while the standby waits; from the kill
  to the standby holding. Its bound is the ttl or the reap, whichever comes first.
The baseline: a PING round trip on the same server, in the same run. docs/leases.md
("Takeover") explains the table.
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import threading
import time
import uuid

import redis

from bench import machine
from bench.timing import Latency
from worqr import Term, Worqr
from worqr.testing import RedisServer

HOLDER = """
import sys, threading
from worqr import Worqr
client = Worqr(redis=sys.argv[1], prefix=sys.argv[2])
client.start_worker()
term = client.lease(sys.argv[3], ttl=float(sys.argv[4])).acquire()
print("held", term.token, flush=True)
threading.Event().wait()
"""


def say(message: str) -> None:
    print(f"[bench.leases] {message}", file=sys.stderr, flush=True)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"bench.leases: {message}")


def ping(url: str, samples: int = 500) -> Latency:
    client = redis.Redis.from_url(url)
    seconds = []
    for _ in range(samples):
        started = time.perf_counter()
        client.ping()
        seconds.append(time.perf_counter() - started)
    client.close()
    return Latency.of(seconds)


def _waiting(standby: Worqr, name: str, ttl: float) -> tuple[threading.Thread, queue.Queue[tuple[Term | None, float]]]:
    got: queue.Queue[tuple[Term | None, float]] = queue.Queue()
    lease = standby.lease(name, ttl=ttl)

    def wait() -> None:
        term = lease.acquire(timeout=120.0)
        got.put((term, time.perf_counter()))
        if term is not None:
            lease.release()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread, got


def clean_releases(url: str, samples: int, ttl: float) -> Latency:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    holder, standby = Worqr(redis=url, prefix=prefix), Worqr(redis=url, prefix=prefix)
    holder.start_worker()
    standby.start_worker()
    raw = redis.Redis.from_url(url)
    seconds = []
    for i in range(samples):
        name = f"release-{i}"
        lease = holder.lease(name, ttl=ttl)
        _require(lease.acquire() is not None, "the holder did not get a free lease")
        thread, got = _waiting(standby, name, ttl)
        channel = lease.keys.released
        while raw.pubsub_numsub(channel)[0][1] < 1:  # the standby listens: it waits for the release
            time.sleep(0.001)
        time.sleep(0.1)  # and has tried once and waits: this measures the notice, not a first try
        started = time.perf_counter()
        lease.release()
        term, at = got.get(timeout=120.0)
        thread.join()
        _require(term is not None, "the standby did not take over within 120 s")
        seconds.append(at - started)
    holder.close()
    standby.close()
    raw.close()
    return Latency.of(seconds)


def kills(url: str, samples: int, ttl: float) -> Latency:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    standby = Worqr(redis=url, prefix=prefix)
    standby.start_worker()
    seconds = []
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for i in range(samples):
        name = f"kill-{i}"
        child = subprocess.Popen(  # noqa: S603 (this interpreter, our own script)
            [sys.executable, "-c", HOLDER, url, prefix, name, str(ttl)], stdout=subprocess.PIPE, text=True, env=env
        )
        _require(child.stdout is not None and child.stdout.readline().startswith("held"), "the holder did not hold")
        thread, got = _waiting(standby, name, ttl)
        time.sleep(0.2 + (i % 10) * ttl / 10)  # kill at a spread of moments between renewals
        started = time.perf_counter()
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
        term, at = got.get(timeout=120.0)
        thread.join()
        _require(term is not None, "the standby did not take over within 120 s")
        seconds.append(at - started)
        say(f"kill {i + 1}/{samples}: taken over in {seconds[-1]:.2f} s")
    standby.close()
    return Latency.of(seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.leases", description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=200, help="clean releases measured (default 200)")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLed holders measured (default 20)")
    parser.add_argument("--ttl", type=float, default=5.0, help="the leases' ttl (default 5, the default)")
    args = parser.parse_args(argv)
    with RedisServer() as server:
        rtt = ping(server.url)
        say(f"PING round trip p50 {rtt.p50_ms:.3f} ms")
        released = clean_releases(server.url, args.releases, args.ttl)
        say(f"clean release: p50 {released.p50_ms:.2f} ms")
        killed = kills(server.url, args.kills, args.ttl)
    print("| takeover | samples | p50 | p99 | max | p50 / PING p50 |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| after a clean release | {released.samples} | {released.p50_ms:.2f} ms | {released.p99_ms:.2f} ms | "
        f"{released.max_ms:.2f} ms | {released.p50_ms / rtt.p50_ms:.1f}\u00d7 |"
    )
    print(
        f"| after a SIGKILL (ttl {args.ttl:g} s, default client) | {killed.samples} | {killed.p50_ms / 1000:.2f} s | "
        f"{killed.p99_ms / 1000:.2f} s | {killed.max_ms / 1000:.2f} s | |"
    )
    print(f"\nPING round trip p50 {rtt.p50_ms:.3f} ms; " + "; ".join(f"{k}: {v}" for k, v in machine.describe()))


if __name__ == "__main__":
    main()
