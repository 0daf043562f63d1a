"""The one markdown table: each measurement as a row; the raw ceiling, worqr, worqr's ratios
to the ceiling, and each peer (with worqr's ratio to it) as columns."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.calls_peers.measure import CallFigures
from bench.calls_rows import CallRows
from bench.children import Drain
from bench.faults import Recovered, Twice
from bench.peers import PeerFigures
from bench.raw import RawFigures
from bench.redis_stats import Usage
from bench.settings import Settings
from bench.timing import Rate
from bench.worqr_side import WorqrFigures

Format = Callable[[float], str]


def _count(value: float) -> str:
    return f"{value:,.0f}"


#: Below this, figures get three decimals instead of two.
_SMALL = 0.1
#: Below this, ratios get four decimals instead of two.
_TINY_RATIO = 0.01
TIMES = "\u00d7"


def _small(value: float) -> str:
    return f"{value:,.2f}" if value >= _SMALL or value == 0 else f"{value:.3f}"


@dataclass(frozen=True)
class Cell:
    value: float | None = None
    note: str = ""
    #: No figure, but one known to be at least this (a measurement that ran into its cap).
    at_least: float | None = None


@dataclass
class Row:
    label: str
    fmt: Format
    raw: Cell = field(default_factory=Cell)
    raw_pipelined: Cell = field(default_factory=Cell)
    worqr: Cell = field(default_factory=Cell)
    peers: dict[str, Cell] = field(default_factory=dict)


def _rate(rate: Rate | None, note: str = "") -> Cell:
    if rate is None:
        return Cell(None, note or "no batch call")
    boxed = f"time-boxed: {rate.done:,} in {rate.seconds:.1f} s" if rate.boxed else ""
    return Cell(rate.per_second, "; ".join(n for n in (note, boxed) if n))


def _drain(drain: Drain | None, note: str = "", of: int | None = None) -> Cell:
    if drain is None:
        return Cell()
    parts = [note]
    if not drain.complete:
        parts.append(f"time-boxed: {drain.timed:,} in {drain.seconds:.1f} s")
    elif of is not None and drain.timed < of:
        parts.append(f"{drain.timed:,} tasks")
    return Cell(drain.rate, "; ".join(p for p in parts if p))


def _commands(usage: Usage, tasks: int) -> Cell:
    return Cell(usage.per_task(tasks)[0])


def _scripts(usage: Usage, tasks: int) -> Cell:
    return Cell(usage.per_task(tasks)[1])


def _round_trips(usage: Usage, tasks: int) -> Cell:
    return Cell(usage.per_task(tasks)[2])


def _cpu(usage: Usage, tasks: int) -> Cell:
    return Cell(usage.cpu_us_per_task(tasks))


def _recovered(figure: Recovered | None) -> Cell:
    if figure is None:
        return Cell(None, "not measured")
    if figure.error:
        return Cell(None, f"failed: {figure.error}")
    victims = f"{figure.victims} victim processes" if figure.victims > 1 else ""
    if figure.seconds is None:
        note = "; ".join(n for n in (f"{figure.rerun} of {figure.tasks} within {figure.cap:.0f} s", victims) if n)
        return Cell(None, note, at_least=figure.cap)
    return Cell(figure.seconds, victims)


def _twice(twice: Twice | None) -> Cell:
    if twice is None:
        return Cell()
    handled = "" if twice.complete else f"of {twice.handled:,} handled in {twice.seconds:.0f} s"
    return Cell(twice.twice, handled)


def rows(
    settings: Settings,
    raw: RawFigures,
    wq: WorqrFigures,
    peers: list[PeerFigures],
    *,
    recovered: dict[str, Recovered] | None = None,
    calls: CallRows | None = None,
) -> list[Row]:
    recovered = recovered or {}
    best = wq.best_concurrency
    d11, d1b = wq.drains[1, 1], wq.drains[1, best]
    d21, d2b = wq.drains[2, 1], wq.drains[2, best]
    n = settings.drain_tasks
    return [
        Row("Enqueue, one task per call (tasks/s)", _count, raw=_rate(raw.enqueue), worqr=_rate(wq.enqueue),
            peers={p.peer.name: _rate(p.enqueue) for p in peers}),
        Row(f"Enqueue, batches of {settings.batch_size} (tasks/s)", _count, raw_pipelined=_rate(raw.enqueue_pipelined),
            worqr=_rate(wq.enqueue_batch), peers={p.peer.name: _rate(p.enqueue_batch) for p in peers}),
        Row(f"Enqueue, one list of {n:,} in one call (tasks/s)", _count, raw_pipelined=_rate(raw.enqueue_pipelined),
            worqr=_rate(wq.enqueue_list)),
        Row(f"Drain {n:,} queued no-op tasks, 1 worker process, default settings (tasks/s)", _count,
            raw=_rate(raw.drain), raw_pipelined=_rate(raw.drain_pipelined), worqr=_drain(d11, "concurrency 1"),
            peers={p.peer.name: _drain(p.drains[0][1], p.drains[0][0].short, n) for p in peers}),
        Row("Drain, 1 worker process, fastest setup tried (tasks/s)", _count,
            raw=_rate(raw.drain), raw_pipelined=_rate(raw.drain_pipelined), worqr=_drain(d1b, f"concurrency {best}"),
            peers={p.peer.name: _drain(p.best[1], p.best[0].short, n) for p in peers}),
        Row("Drain, 2 worker processes, default settings (tasks/s)", _count, worqr=_drain(d21, "concurrency 1")),
        Row("Drain, 2 worker processes, fastest concurrency (tasks/s)", _count, worqr=_drain(d2b, f"concurrency {best}")),
        Row("Idle wake-up latency p50, enqueue returned → handler started (ms)", _small,
            raw=Cell(raw.latency.p50_ms, "BLMOVE, from the LPUSH call"), worqr=Cell(wq.latency.p50_ms)),
        Row(f"Idle wake-up latency p99 (ms; {wq.latency.samples} samples)", _small,
            raw=Cell(raw.latency.p99_ms, "BLMOVE, from the LPUSH call"), worqr=Cell(wq.latency.p99_ms, f"max {wq.latency.max_ms:.2f}")),
        Row("Redis commands per task, enqueue one per call (all, incl. inside scripts)", _small,
            raw=_commands(raw.enqueue_usage, raw.enqueue.done), worqr=_commands(wq.enqueue_usage, wq.enqueue.done),
            peers={p.peer.name: _commands(p.enqueue_usage, p.enqueue.done) for p in peers}),
        Row("Round trips per task, enqueue one per call", _small,
            raw=_round_trips(raw.enqueue_usage, raw.enqueue.done), worqr=_round_trips(wq.enqueue_usage, wq.enqueue.done),
            peers={p.peer.name: _round_trips(p.enqueue_usage, p.enqueue.done) for p in peers}),
        Row("Redis server CPU per task, enqueue one per call (µs)", _small,
            raw=_cpu(raw.enqueue_usage, raw.enqueue.done), worqr=_cpu(wq.enqueue_usage, wq.enqueue.done),
            peers={p.peer.name: _cpu(p.enqueue_usage, p.enqueue.done) for p in peers}),
        Row("Redis commands per task, drain, 1 process, default (all, incl. inside scripts)", _small,
            raw=_commands(raw.drain_usage, raw.drain.done), raw_pipelined=_commands(raw.drain_pipelined_usage, raw.drain_pipelined.done),
            worqr=_commands(d11.usage, d11.total),
            peers={p.peer.name: _commands(p.drains[0][1].usage, p.drains[0][1].total) for p in peers}),
        Row("Script calls (EVALSHA) per task, drain, 1 process, default", _small,
            raw=_scripts(raw.drain_usage, raw.drain.done), raw_pipelined=_scripts(raw.drain_pipelined_usage, raw.drain_pipelined.done),
            worqr=_scripts(d11.usage, d11.total),
            peers={p.peer.name: _scripts(p.drains[0][1].usage, p.drains[0][1].total) for p in peers}),
        Row("Round trips per task, drain, 1 process, default", _small,
            raw=_round_trips(raw.drain_usage, raw.drain.done), raw_pipelined=_round_trips(raw.drain_pipelined_usage, raw.drain_pipelined.done),
            worqr=_round_trips(d11.usage, d11.total),
            peers={p.peer.name: _round_trips(p.drains[0][1].usage, p.drains[0][1].total) for p in peers}),
        Row("Redis server CPU per task, drain, 1 process, default (µs)", _small,
            raw=_cpu(raw.drain_usage, raw.drain.done), raw_pipelined=_cpu(raw.drain_pipelined_usage, raw.drain_pipelined.done),
            worqr=_cpu(d11.usage, d11.total),
            peers={p.peer.name: _cpu(p.drains[0][1].usage, p.drains[0][1].total) for p in peers}),
        Row("Round trips per task, drain, 1 process, fastest setup", _small,
            raw=_round_trips(raw.drain_usage, raw.drain.done), raw_pipelined=_round_trips(raw.drain_pipelined_usage, raw.drain_pipelined.done),
            worqr=Cell(d1b.usage.per_task(d1b.total)[2], f"concurrency {best}"),
            peers={p.peer.name: Cell(p.best[1].usage.per_task(p.best[1].total)[2], p.best[0].short) for p in peers}),
        Row("Redis memory per queued task (bytes; worqr and raw: an 11-byte payload)", _count,
            raw=Cell(raw.memory_per_task), worqr=Cell(wq.memory_per_task),
            peers={p.peer.name: Cell(p.memory_per_task) for p in peers}),
        Row(f"Tasks run twice, fault-free drain of {settings.twice_tasks:,} tasks, 1 process, default settings", _count,
            worqr=_twice(wq.twice), peers={p.peer.name: _twice(p.twice) for p in peers}),
        Row(f"Crash recovery: seconds from SIGKILL until all {settings.recovery_tasks} tasks the worker held ran again "
            f"on an idle default worker (capped at {settings.recovery_cap:.0f} s)", _small,
            worqr=_recovered(recovered.get("worqr")) if recovered else Cell(None, "not measured"),
            peers={p.peer.name: _recovered(recovered.get(p.peer.name)) for p in peers} if recovered else {}),
        Row(f"Dequeue attempts one new task causes, {wq.herd.workers} idle worker processes", _small,
            worqr=Cell(wq.herd.net, f"{wq.herd.tasks} tasks; {wq.herd.gross:.2f} before taking off idle polling of {wq.herd.background:.1f}/s")),
        *_call_rows(calls, peers),
    ]  # fmt: skip


def _call_cell(figures: CallFigures | None, value: Callable[[CallFigures], float], note: str = "") -> Cell:
    if figures is None:
        return Cell(None, "not measured")
    return Cell(value(figures), note)


def _call_rows(calls: CallRows | None, peers: list[PeerFigures]) -> list[Row]:
    if calls is None:
        return []

    def p50(f: CallFigures) -> float:
        return f.latency.p50_ms

    def p99(f: CallFigures) -> float:
        return f.latency.p99_ms

    def rate(f: CallFigures) -> float:
        return f.rate.per_second

    def row(label: str, fmt: Format, value: Callable[[CallFigures], float]) -> Row:
        other = f"async {fmt(value(calls.asyncio))}" if calls.asyncio is not None else ""
        return Row(
            label,
            fmt,
            raw=_call_cell(calls.raw, value, "LPUSH + BLPOP"),
            worqr=_call_cell(calls.sync, value, "; ".join(n for n in ("threaded client", other) if n)),
            peers={
                p.peer.name: _call_cell(calls.peers.get(p.peer.name), value, _setup(calls.peers.get(p.peer.name)))
                for p in peers
                if p.peer.name in calls.peers
            },
        )

    return [
        row("Call and wait for its result, round trip p50, one caller, idle worker (ms)", _small, p50),
        row("Call round trip p99 (ms)", _small, p99),
        row("Calls and results per second, 16 callers", _count, rate),
    ]  # fmt: skip


def _setup(figures: CallFigures | None) -> str:
    """The peer's calls setup, when it is not its defaults."""
    if figures is None or " " not in figures.system.name:
        return ""
    return figures.system.name.split(" ", 1)[1]


def _ratio(worqr: Cell, other: Cell) -> str:
    if worqr.value == 0 and other.value == 0:
        return "="  # both none (tasks run twice): no ratio, the same figure
    if worqr.value is not None and other.value is None and other.at_least:
        bound = worqr.value / other.at_least
        return f"≤ {TIMES}{bound:.2f}" if bound >= _TINY_RATIO else f"≤ {TIMES}{bound:.4f}"
    if (
        worqr.value is None
        or other.value is None
        or other.value <= 0
        or math.isnan(worqr.value)
        or math.isnan(other.value)
    ):
        return ""
    ratio = worqr.value / other.value
    return f"{TIMES}{ratio:.2f}" if ratio >= _TINY_RATIO else f"{TIMES}{ratio:.4f}"


def _show(fmt: Format, cell: Cell, ratio: str = "") -> str:
    if cell.value is None or math.isnan(cell.value):
        extras = [e for e in (cell.note, f"worqr {ratio}" if ratio else "") if e]
        return f"— ({'; '.join(extras)})" if extras else "—"
    extras = [e for e in (cell.note, f"worqr {ratio}" if ratio else "") if e]
    return fmt(cell.value) + (f" ({'; '.join(extras)})" if extras else "")


def markdown(table_rows: list[Row], peers: list[PeerFigures]) -> str:
    header = [
        "Measurement",
        "raw, 1 round trip per command",
        f"raw, pipelined {TIMES}100",
        "worqr",
        "worqr ÷ raw 1 RT",
        "worqr ÷ raw pipelined",
    ]
    header += [f"{p.peer.name} {p.peer.version}" for p in peers]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for row in table_rows:
        cells = [row.label, _show(row.fmt, row.raw), _show(row.fmt, row.raw_pipelined), _show(row.fmt, row.worqr)]
        cells += [_ratio(row.worqr, row.raw), _ratio(row.worqr, row.raw_pipelined)]
        for p in peers:
            cell = row.peers.get(p.peer.name, Cell())
            cells.append(_show(row.fmt, cell, _ratio(row.worqr, cell)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios_markdown(table_rows: list[Row], peers: list[PeerFigures]) -> str:
    """The same rows as ratios only (worqr's figure divided by each column's): what one run
    on a noisy machine can tell, and what docs/performance.md shows."""
    header = ["Measurement", "÷ raw 1 RT", "÷ raw pipelined", *(f"÷ {p.peer.name}" for p in peers)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for row in table_rows:
        cells = [row.label, _ratio(row.worqr, row.raw), _ratio(row.worqr, row.raw_pipelined)]
        cells += [_ratio(row.worqr, row.peers.get(p.peer.name, Cell())) for p in peers]
        if any(cells[1:]):
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def setups(peers: list[PeerFigures]) -> list[str]:
    """One line per peer: the setups measured and anything else a reader needs."""
    lines = []
    for p in peers:
        described = "; ".join(
            f"{s.label}{'' if s.short == 'default' else f' ({s.short!r})'}" for s in (pair[0] for pair in p.drains)
        )
        notes = f" {p.peer.notes}." if p.peer.notes else ""
        lines.append(f"- {p.peer.name} {p.peer.version}: {described}.{notes}")
    return lines
