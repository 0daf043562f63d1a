"""Run the benchmark and print its markdown table (progress goes to stderr).

    python -m bench.run [--quick] [--no-peers] [--drain-tasks N] [--herd-workers N]

Starts a fresh private server (``worqr.testing.RedisServer``: ``redis-server`` from PATH,
AOF and snapshots off), measures the raw ceiling, worqr and each installed peer on it in
turn, and stops it. docs/performance.md explains every row.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable

import redis

from bench import calls_rows, children, faults, machine, peers, raw, redis_stats, table, worqr_side
from bench.faults import Recovered, Subject
from bench.peers import PeerFigures, Skipped
from bench.settings import Settings, parse_args
from worqr.testing import RedisServer


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    children.preload(children.PRELOAD)
    began, load_at_start = time.monotonic(), machine.load_average()
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        try:
            version = redis_stats.server_version(client)
        finally:
            client.close()
        say(f"{version} on {server.url}; raw ceiling")
        raw_figures = raw.measure(server.url, settings)
        worqr_figures = worqr_side.measure(server.url, settings, say)
        measured, skipped = _peers(server.url, settings)
        calls = calls_rows.measure_all(server.url, settings, say)
    recovered = _recovery(settings, measured)
    elapsed = time.monotonic() - began
    print(
        report(
            settings,
            version=version,
            raw_figures=raw_figures,
            worqr_figures=worqr_figures,
            measured=measured,
            skipped=skipped,
            recovered=recovered,
            calls=calls,
            elapsed=elapsed,
            load_at_start=load_at_start,
            argv=argv,
        )
    )
    return 0


def _peers(url: str, settings: Settings) -> tuple[list[PeerFigures], list[Skipped]]:
    measured: list[PeerFigures] = []
    skipped: list[Skipped] = []
    if not settings.peers:
        skipped.append(Skipped("all peers", "not measured in this run (--quick or --no-peers)"))
        return measured, skipped
    for peer in peers.load(say):
        outcome = peer if isinstance(peer, Skipped) else peers.measure(peer, url, settings, say)
        (skipped if isinstance(outcome, Skipped) else measured).append(outcome)  # type: ignore[arg-type]
    return measured, skipped


def _recovery(settings: Settings, measured: list[PeerFigures]) -> dict[str, Recovered]:
    if not settings.recovery:
        return {}
    subjects = [worqr_side.SUBJECT]
    subjects += [Subject(p.peer.name, _filler(p), p.peer.recovery) for p in measured if p.peer.recovery is not None]
    return faults.recover_all(subjects, settings, say)


def _filler(figures: PeerFigures) -> Callable[[str, int], None]:
    def fill(url: str, tasks: int) -> None:
        with figures.peer.producer(url) as producer:
            producer.fill(tasks)

    return fill


def report(
    settings: Settings,
    *,
    version: str,
    raw_figures: raw.RawFigures,
    worqr_figures: worqr_side.WorqrFigures,
    measured: list[PeerFigures],
    skipped: list[Skipped],
    recovered: dict[str, Recovered],
    calls: calls_rows.CallRows | None,
    elapsed: float,
    load_at_start: str,
    argv: list[str] | None,
) -> str:
    rows = table.rows(settings, raw_figures, worqr_figures, measured, recovered=recovered, calls=calls)
    command = shlex.join(["python", "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)])
    lines = [
        "## worqr benchmark",
        "",
        f"- Server: {version}, fresh, on loopback, AOF and snapshots off, nothing else on it.",
        *(f"- {name}: {value}" for name, value in machine.describe()),
        f"- Load average (1 / 5 / 15 min): {load_at_start} at the start, {machine.load_average()} at the end.",
        f"- Run: `{command}`, {elapsed:.0f} s.",
        "",
        table.markdown(rows, measured),
        "",
        "A ratio is worqr's figure divided by that column's. Throughput: higher is better; latency, commands, "
        "round trips, memory, attempts, tasks run twice, seconds to recover: lower is better. "
        f'"≤ {table.TIMES}r": the other system did not finish within its cap, so the ratio is at most r.',
        "",
        "### Ratios only",
        "",
        table.ratios_markdown(rows, measured),
    ]
    if measured:
        lines += ["", "Peer setups (the first of each is its default):", *table.setups(measured)]
    skipped = skipped + [Skipped(s.name, s.reason) for s in (calls.skipped if calls is not None else [])]
    if skipped:
        lines += ["", "Skipped:", *(f"- {s.name}: {s.reason}" for s in skipped)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
