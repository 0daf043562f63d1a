"""The benchmark of streams: publish and consume rates of worqr's streams beside the raw
Redis Streams ceiling written by hand with redis-py, in one run on one private server
(progress to stderr; the table to stdout).

    python -m bench.streams [--messages N] [--batch B] [--runs R]

- publish, one at a time: ``stream.publish(m)`` in a loop, against ``XADD key * d m``;
- publish, batched: ``stream.publish_many(B messages)``, against B ``XADD`` in one pipeline;
- consume, one at a time: a group subscription's ``next()`` then ``message.ack()`` (its
  takes fetch ``prefetch`` = 1), against ``XREADGROUP ... COUNT 1`` then ``XACK``;
- consume, batched: ``next()`` B times from a take of B (``prefetch=B``), then one
  ``ack_many`` of the B ids, against ``XREADGROUP ... COUNT B`` then one ``XACK`` of B ids.
Each row is the median of R runs over N messages of 16 bytes; the ratio is worqr's rate
over the raw rate of the same run. What worqr does beyond the raw commands is in
docs/streams.md: the membership check that refuses a zombie, the hand-over of a dead
consumer's messages, dead letters.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

import redis

from bench import machine
from worqr import Subscription, Worqr
from worqr.testing import RedisServer

PAYLOAD = "m" * 16
#: Messages published at a time to fill a stream before it is consumed.
CHUNK = 1000


def say(message: str) -> None:
    print(f"[bench.streams] {message}", file=sys.stderr, flush=True)


def rate(count: int, run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def fresh(url: str) -> tuple[Worqr, str]:
    client = Worqr(redis=url, prefix=f"bench-{uuid.uuid4().hex[:8]}")
    return client, f"raw-{uuid.uuid4().hex[:8]}"


def publish_rates(url: str, n: int, batch: int) -> dict[str, float]:
    client, key = fresh(url)
    raw = redis.Redis.from_url(url)
    stream, many = client.stream("pub"), client.stream("pub-many")

    def worqr_one() -> None:
        for _ in range(n):
            stream.publish(PAYLOAD)

    def raw_one() -> None:
        for _ in range(n):
            raw.xadd(key, {"d": PAYLOAD})

    def worqr_batches() -> None:
        for _ in range(n // batch):
            many.publish_many([PAYLOAD] * batch)

    def raw_batches() -> None:
        for _ in range(n // batch):
            pipe = raw.pipeline(transaction=False)
            for _ in range(batch):
                pipe.xadd(key + "-many", {"d": PAYLOAD})
            pipe.execute()

    out = {
        "worqr publish": rate(n, worqr_one),
        "raw publish": rate(n, raw_one),
        "worqr publish batched": rate(n, worqr_batches),
        "raw publish batched": rate(n, raw_batches),
    }
    client.close()
    raw.close()
    return out


def consume_rates(url: str, n: int, batch: int) -> dict[str, float]:
    out = {}
    for label, count in (("", 1), (" batched", batch)):
        client, key = fresh(url)
        client.start_worker()
        stream = client.stream("sub")
        sub = stream.subscribe("g", start="first", prefetch=count)
        for _ in range(n // CHUNK):
            stream.publish_many([PAYLOAD] * CHUNK)

        out["worqr consume" + label] = rate(n, functools.partial(worqr_consume, sub, n, count))
        client.close()

        raw = redis.Redis.from_url(url)
        raw.xgroup_create(key, "g", id="0", mkstream=True)
        for _ in range(n // CHUNK):
            pipe = raw.pipeline(transaction=False)
            for _ in range(CHUNK):
                pipe.xadd(key, {"d": PAYLOAD})
            pipe.execute()

        def raw_consume(count: int = count, key: str = key, raw: redis.Redis = raw) -> None:
            taken = 0
            while taken < n:
                reply = cast("Any", raw.xreadgroup("g", "c", {key: ">"}, count=count))  # RESP2: a list
                ids = [entry_id for entry_id, _ in reply[0][1]]
                raw.xack(key, "g", *ids)
                taken += len(ids)

        out["raw consume" + label] = rate(n, raw_consume)
        raw.close()
    return out


def worqr_consume(sub: Subscription[str], n: int, count: int) -> None:
    """Take and acknowledge ``n`` messages, ``count`` at a time."""
    for _ in range(n // count):
        ids = []
        for _ in range(count):
            message = sub.next(timeout=10)
            if message is None:
                raise SystemExit("bench.streams: a message did not come within 10 s")
            ids.append(message.id)
        if count == 1:
            sub.ack(ids[0])
        else:
            sub.ack_many(ids)


ROWS = (
    ("publish, one at a time", "worqr publish", "raw publish"),
    ("publish, batched", "worqr publish batched", "raw publish batched"),
    ("consume + ack, one at a time", "worqr consume", "raw consume"),
    ("consume + ack, batched", "worqr consume batched", "raw consume batched"),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages per run (default 20000)")
    parser.add_argument("--batch", type=int, default=100, help="messages per batch (default 100)")
    parser.add_argument("--runs", type=int, default=3, help="runs per row; the median is shown (default 3)")
    args = parser.parse_args(argv)
    if args.messages < CHUNK or args.messages % CHUNK or args.batch < 1 or args.messages % args.batch:
        parser.error(f"--messages must be a positive multiple of {CHUNK} and of --batch")
    runs: dict[str, list[float]] = {}
    with RedisServer() as server:
        for run in range(args.runs):
            for name, value in {
                **publish_rates(server.url, args.messages, args.batch),
                **consume_rates(server.url, args.messages, args.batch),
            }.items():
                runs.setdefault(name, []).append(value)
            say(f"run {run + 1}/{args.runs} done")
    median = {name: statistics.median(values) for name, values in runs.items()}
    print(f"| streams, {args.messages} messages, batches of {args.batch} | worqr /s | raw redis-py /s | worqr ÷ raw |")
    print("|---|---:|---:|---:|")
    for title, ours, theirs in ROWS:
        print(f"| {title} | {median[ours]:,.0f} | {median[theirs]:,.0f} | \u00d7{median[ours] / median[theirs]:.2f} |")
    print("\n" + "; ".join(f"{k}: {v}" for k, v in machine.describe()))


if __name__ == "__main__":
    main()
