"""The benchmark of calls: the round trip of a function call and its result, beside the raw
redis-py RPC ceiling and the peers, in one run on one private server (progress to stderr).

    python -m bench.calls [--quick] [--no-peers] [--only NAME,...]

For each system (bench/calls_peers/): its worker in a separate process (a forkserver child,
as in bench/children.py) serving a function that returns its argument; in this process, one
caller making sequential calls on the idle worker (p50 and p99 of the round trip), then 16
concurrent callers each calling and waiting in a loop for a time box (calls per second).
docs/performance.md ("Calls") explains the table.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from dataclasses import replace

import redis

from bench import calls_peers, children, machine, redis_stats
from bench.calls_peers import Skipped
from bench.calls_peers.measure import CallFigures, CallSettings, measure
from worqr.testing import RedisServer

#: What the forkserver imports once (the peers are imported by the children that use them).
PRELOAD = ["redis", "worqr", "bench.calls_peers.raw_rpc", "bench.calls_peers.worqr_calls"]
RAW, SYNC, ASYNC = "raw redis-py RPC", "worqr sync", "worqr async"
OWN_NAMES = (RAW, SYNC, ASYNC)
#: The targets this benchmark reports against.
TARGET_P50_MS = 2.0
TARGET_PEER_RATIO = 5.0
TIMES = "\u00d7"


def say(message: str) -> None:
    print(f"[bench.calls] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> tuple[CallSettings, tuple[str, ...], set[str] | None]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.calls",
        description="Measure the round trip of calls, worqr beside the raw redis-py RPC and the peers; print a markdown table.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples and a 2 s time box (peers still run)")
    parser.add_argument("--no-peers", action="store_true", help="the raw ceiling and worqr only")
    parser.add_argument("--only", help="comma-separated names of systems to run (e.g. 'worqr sync,rq')")
    parser.add_argument("--seconds", type=float, help="the time box of the 16 callers (default 5, --quick 2)")
    args = parser.parse_args(argv)
    settings = CallSettings.quick() if args.quick else CallSettings()
    if args.seconds is not None:
        settings = replace(settings, throughput_seconds=max(0.5, args.seconds))
    modules = calls_peers.OWN if args.no_peers else calls_peers.MODULES
    only = None if args.only is None else {name.strip() for name in args.only.split(",") if name.strip()}
    return settings, modules, only


def main(argv: list[str] | None = None) -> int:
    settings, modules, only = parse_args(argv)
    children.preload(PRELOAD)
    began, load_at_start = time.monotonic(), machine.load_average()
    measured: list[CallFigures] = []
    skipped: list[Skipped] = []
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        try:
            version = redis_stats.server_version(client)
        finally:
            client.close()
        say(f"{version} on {server.url}")
        for system in calls_peers.load(modules, say):
            if isinstance(system, Skipped):
                skipped.append(system)
            elif only is None or system.name in only or system.name.split()[0] in only:
                outcome = measure(system, server.url, settings, say)
                (skipped if isinstance(outcome, Skipped) else measured).append(outcome)  # type: ignore[arg-type]
    if modules == calls_peers.OWN:
        skipped.append(Skipped("peers", "not measured in this run (--no-peers)"))
    command = shlex.join(["python", "-m", "bench.calls", *(sys.argv[1:] if argv is None else argv)])
    lines = [
        "## worqr calls benchmark",
        "",
        f"- Server: {version}, fresh, on loopback, AOF and snapshots off, flushed between systems.",
        *(f"- {name}: {value}" for name, value in machine.describe()),
        f"- Load average (1 / 5 / 15 min): {load_at_start} at the start, {machine.load_average()} at the end.",
        f"- Run: `{command}`, {time.monotonic() - began:.0f} s.",
        f"- Round trip: one caller, sequential calls of a function returning its argument on an idle worker "
        f"(a {settings.gap_seconds * 1000:.0f} ms pause between calls, untimed), up to {settings.samples:,} "
        f"samples or {settings.latency_seconds:.0f} s, after up to {settings.warmup} warm-up calls.",
        f"- Calls/s: {settings.callers} concurrent callers, each calling and waiting for the result in a loop "
        f"for {settings.throughput_seconds:.0f} s (calls still running at the deadline are finished and counted).",
        "",
        *report(measured, settings),
    ]
    if skipped:
        lines += ["", "Skipped:", *(f"- {s.name}: {s.reason}" for s in skipped)]
    print("\n".join(lines))
    return 0


def _ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:,.2f}"


def _ratio(top: float | None, bottom: float | None) -> str:
    if top is None or bottom is None or bottom == 0 or math.isnan(top) or math.isnan(bottom):
        return ""
    value = top / bottom
    return f"{TIMES}{value:,.2f}" if value >= 0.01 else f"{TIMES}{value:.4f}"  # noqa: PLR2004


def report(measured: list[CallFigures], settings: CallSettings) -> list[str]:
    """The table, the ratios and the targets."""
    by_name = {f.system.name: f for f in measured}
    raw, sync, asyn = (by_name.get(name) for name in OWN_NAMES)
    raw_p50 = raw.latency.p50_ms if raw else None
    raw_rate = raw.rate.per_second if raw else None
    sync_rate = sync.rate.per_second if sync else None
    async_rate = asyn.rate.per_second if asyn else None
    lines = [
        f"| System | p50 ms | p99 ms (max; samples) | calls/s, {settings.callers} callers | p50 ÷ raw p50 "
        f"| calls/s ÷ raw | worqr sync calls/s ÷ this | worqr async calls/s ÷ this |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in measured:
        lat, rate = f.latency, f.rate.per_second
        lines.append(
            f"| {f.system.label} | {_ms(lat.p50_ms)} | {_ms(lat.p99_ms)} ({_ms(lat.max_ms)}; {lat.samples:,}) "
            f"| {rate:,.0f} | {_ratio(lat.p50_ms, raw_p50)} | {_ratio(rate, raw_rate)} "
            f"| {_ratio(sync_rate, rate)} | {_ratio(async_rate, rate)} |"
        )
    lines += ["", "Setups (callers: threads or asyncio tasks, in this process):"]
    lines += [
        f"- {f.system.label}: {f.system.setup}; {f.system.processes} worker process(es); "
        f"{settings.callers} callers: {f.system.callers}."
        for f in measured
    ]
    peers = [f for f in measured if f.system.name not in OWN_NAMES]
    fastest = max(peers, key=lambda f: f.rate.per_second) if peers else None
    lines += ["", "Ratios and targets:"]
    for own in (sync, asyn):
        if own is None:
            continue
        p50 = own.latency.p50_ms
        line = (
            f"- {own.system.name}: p50 {p50:.2f} ms ({'meets' if p50 < TARGET_P50_MS else 'misses'} the "
            f"< {TARGET_P50_MS:g} ms target), {_ratio(p50, raw_p50) or 'n/a'} the raw p50; "
            f"{own.rate.per_second:,.0f} calls/s, {_ratio(own.rate.per_second, raw_rate) or 'n/a'} the raw calls/s"
        )
        if fastest is not None:
            ratio = own.rate.per_second / fastest.rate.per_second
            verdict = "meets" if ratio >= TARGET_PEER_RATIO else "misses"
            line += (
                f"; {TIMES}{ratio:,.2f} the fastest peer ({fastest.system.label}, "
                f"{fastest.rate.per_second:,.0f} calls/s): {verdict} the {TARGET_PEER_RATIO:g}{TIMES} target"
            )
        lines.append(line + ".")
    return lines


if __name__ == "__main__":
    sys.exit(main())
