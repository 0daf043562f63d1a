"""The chaos soak, short form: five worker processes, one of each kind (the plain API,
``Worqr.worker``, ``AsyncWorqr.worker``, and a threaded and an asyncio persistent worker
holding three persistent tasks), each behind its own fault proxy, drain 12,000 tasks while
the seeded schedule kills workers, freezes them past their timeout (one at least while it
holds a task), restarts and stalls Redis (AOF, appendfsync always), and partitions (healing
intact, with a reset, and half-open), silences and slows one worker's link at a time. The
long form is ``nox -s soak``; what a run proves is in docs/reliability.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from soak.chaos import PARTITION_MODES, Rates
from soak.holds import HeldWatch, Hold, holds, singleton_overlap
from soak.journal import Journal, read_journal
from soak.ledger import Entry
from soak.report import OVERLAP_BOUND_SECONDS, Chaos, checks, compute
from soak.run import run_soak
from soak.settings import Settings

SETTINGS = Settings(
    tasks=12_000,
    workers=5,
    seed=20240611,
    rates=Rates(
        kill=20.0,
        pause=15.0,
        restart=8.0,
        stall=6.0,
        partition=20.0,
        swallow=10.0,
        latency=10.0,
        max_downtime=1.0,
    ),
    work_ms=2.0,
    drain_timeout=60.0,
    # One more persistent task than one worker's two handlers can hold: whichever persistent
    # worker takes two, the other kind holds the third, so both kinds hold one in every run
    # (with two, the first to dequeue could keep both until the end).
    connections=3,
)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_chaos_soak_loses_no_task_accepts_none_twice_and_no_worker_exits(tmp_path: Path) -> None:
    outcome = run_soak(SETTINGS, tmp_path)
    figures, chaos, report = outcome.figures, outcome.chaos, outcome.report
    # The schedule starts with one of each fault, the pause made while a task is held, and
    # one partition of each mode.
    assert chaos.kills >= 1, report
    assert chaos.pauses_mid_task >= 1, report
    assert chaos.restarts >= 1, report
    assert chaos.stalls >= 1, report
    for mode in PARTITION_MODES:
        assert chaos.count("partition", mode) >= 1, report
    assert chaos.count("swallow") >= 1, report
    assert chaos.count("latency") >= 1, report
    # Every kind of worker did its part.
    for kind in ("plain", "runtime", "async-runtime"):
        assert figures.accepted_by_kind.get(kind, 0) > 0, report
    assert {chaos.kinds[e.worker] for e in outcome.entries if e.event == "hold-start"} == {
        "persistent",
        "async-persistent",
    }, report
    # Runtime workers were lost, and registered again under their own id.
    assert figures.rejoined >= 1, report
    # The frozen worker was reaped while it held its task; thawed, its finish did not count.
    assert figures.zombies >= 1, report
    assert figures.zombies_refused == figures.zombies, report
    assert figures.rejected_but_applied == 0, report
    # Nothing lost, nothing accepted twice, by the workers' ledger and by the server's journal.
    assert figures.lost == 0, report
    assert figures.duplicate_accepted == 0, report
    assert figures.duplicate_applied == 0, report
    assert figures.accepted_not_applied == 0, report
    # At-least-once: re-runs happen only for tasks that an interruption sent back.
    assert figures.reexecutions <= figures.interrupted_requeues, report
    # Every worker rode out every fault by itself, and exited when told to.
    assert not chaos.exited, report
    assert figures.runtime_stopped == 0, report
    assert not chaos.exit_errors, report
    # No held task sat unrun for long in a live worker; no two holders ran a persistent task at once.
    assert figures.held_unrun is None or figures.held_unrun.seconds <= SETTINGS.held_unrun_bound, report
    assert figures.overlap_running is None or figures.overlap_running.seconds <= 0, report
    assert figures.overlap_thawed is None or figures.overlap_thawed.seconds <= OVERLAP_BOUND_SECONDS, report
    assert chaos.connections_left == [f"connection-{i}" for i in range(1, SETTINGS.connections + 1)], report
    # The queue's exact counters agree with the journal and the ledger.
    assert chaos.counters["enqueued"] == SETTINGS.tasks, report
    assert chaos.counters["finished"] == figures.applied, report
    assert chaos.counters.get("fenced", 0) >= figures.rejected, report
    assert outcome.passed, report
    # No process outlived the run.
    assert None not in outcome.exit_codes
    assert not outcome.server_running


def _resp(*args: str) -> bytes:
    return f"*{len(args)}\r\n".encode() + b"".join(f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args)


def test_the_journal_reads_finishes_and_requeues_and_ignores_a_cut_off_tail(tmp_path: Path) -> None:
    folder = tmp_path / "appendonlydir"
    folder.mkdir()
    (folder / "appendonly.aof.manifest").write_text(
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    )
    process = "{soak:jobs}:process:w1"
    aof = b"".join([
        _resp("SELECT", "0"),
        _resp("RPUSH", "{soak:jobs}:queue", "a", "b", "c"),
        _resp("MULTI"), _resp("LPOP", "{soak:jobs}:queue", "1"), _resp("INCRBY", "{soak:jobs}:seq", "1"),
        _resp("HSET", process, "1", "a"), _resp("EXEC"),
        _resp("HDEL", process, "1"),  # finish
        _resp("MULTI"), _resp("HSET", process, "2", "b"), _resp("HSET", process, "3", "c"), _resp("EXEC"),
        _resp("MULTI"), _resp("HDEL", process, "3"), _resp("SREM", "{soak:jobs}:unique", "c"),
        _resp("EXEC"),  # finish_many of one
        _resp("MULTI"), _resp("HSET", process, "4", "d"), _resp("EXEC"),
        _resp("MULTI"), _resp("HDEL", process, "4"), _resp("LPUSH", "{soak:jobs}:queue", "d"),
        _resp("EXEC"),  # stop_process
        _resp("MULTI"), _resp("HINCRBY", "{soak:jobs}:attempts", "b", "1"),
        _resp("LPUSH", "{soak:jobs}:queue", "b"), _resp("DEL", process), _resp("EXEC"),  # reaped
        _resp("SMOVE", "{soak}:workers", "{soak}:reaping", "w1"),
        _resp("HDEL", process, "2")[:-3],  # cut off by a crash mid-write: not applied
    ])  # fmt: skip
    (folder / "appendonly.aof.1.incr.aof").write_bytes(aof)
    journal = read_journal(tmp_path, "soak", "jobs")
    assert journal.enqueued == ["a", "b", "c"]
    assert journal.dequeued == {("w1", 1): "a", ("w1", 2): "b", ("w1", 3): "c", ("w1", 4): "d"}
    assert journal.finished == [("w1", 1, "a"), ("w1", 3, "c")]
    assert (journal.requeued, journal.stopped, journal.other_removals) == (2, 1, 0)
    assert (journal.interrupted, journal.declared_dead) == (1, ["w1"])
    assert journal.interrupted_of == {"w1": 1}


def test_the_report_fails_a_run_with_a_lost_task_or_a_task_finished_twice() -> None:
    journal = Journal(
        enqueued=["a", "b"],
        dequeued={("w1", 1): "a", ("w2", 2): "a"},
        finished=[("w1", 1, "a"), ("w2", 2, "a")],
    )
    entries = [Entry("w1", "accepted", ("1:jobs", "a")), Entry("w2", "accepted", ("2:jobs", "a"))]
    settings = Settings(kinds=("plain",), workers=2, connections=0)
    chaos = Chaos(drained=True, kinds={"w1": "plain", "w2": "plain"}, counters={"enqueued": 2, "finished": 2})
    figures = compute(["a", "b"], entries, journal, chaos, settings)
    assert (figures.lost, figures.duplicate_accepted, figures.duplicate_applied) == (1, 1, 1)
    failed = [name for name, ok in checks(figures, chaos, settings) if not ok]
    assert [name.split(" = ")[0] for name in failed] == [
        "lost tasks",
        "duplicate accepted completions",
        "duplicate applied finishes",
    ]


def test_the_report_fails_a_run_with_an_exited_worker_or_an_overlap() -> None:
    journal = Journal(enqueued=["a"], dequeued={("w1", 1): "a"}, finished=[("w1", 1, "a")])
    entries = [
        Entry("w1", "exec", ("1:jobs", "a")),
        Entry("w1", "accepted", ("1:jobs", "a")),
        Entry("w2", "hold-start", ("5:connections", "connection-1", "100.0")),
        Entry("w3", "hold-start", ("6:connections", "connection-1", "101.0")),
        Entry("w2", "hold-stop", ("5:connections", "connection-1", "103.0", "told-worker-lost")),
    ]
    settings = Settings(kinds=("runtime", "persistent", "persistent"), workers=3, connections=1)
    chaos = Chaos(
        drained=True,
        kinds={"w1": "runtime", "w2": "persistent", "w3": "persistent"},
        exited=[("w1", 1, "RuntimeError: boom")],
        connections_left=["connection-1"],
        run_end_wall=110.0,
        counters={"enqueued": 1, "finished": 1},
    )
    figures = compute(["a"], entries, journal, chaos, settings)
    assert figures.overlap_running is not None
    assert figures.overlap_running.seconds == pytest.approx(2.0)
    failed = [name for name, ok in checks(figures, chaos, settings) if not ok]
    assert [name.split(" (")[0].split(",")[0] for name in failed] == [
        "workers that exited = 0",
        "longest singleton overlap",
    ]


@pytest.mark.parametrize(
    ("counters", "failing"),
    [
        ({"enqueued": 2, "finished": 1}, "counters: enqueued = tasks enqueued"),
        ({"enqueued": 2, "finished": 2, "fenced": 0}, "counters: fenced >= the refused ends the workers heard"),
        ({"enqueued": 2, "finished": 2, "fenced": 1, "failed": 1}, "counters: no failure"),
    ],
)
def test_the_report_fails_a_run_whose_counters_disagree_with_the_ledger_and_journal(
    counters: dict[str, int], failing: str
) -> None:
    journal = Journal(
        enqueued=["a", "b"], dequeued={("w1", 1): "a", ("w1", 2): "b"}, finished=[("w1", 1, "a"), ("w1", 2, "b")]
    )
    entries = [
        Entry("w1", "accepted", ("1:jobs", "a")),
        Entry("w1", "accepted", ("2:jobs", "b")),
        Entry("w2", "rejected", ("3:jobs", "a")),  # a late finish refused: fenced counts it
    ]
    settings = Settings(kinds=("plain",), workers=2, connections=0)
    chaos = Chaos(drained=True, kinds={"w1": "plain", "w2": "plain"}, counters={"fenced": 1} | counters)
    failed = [
        name for name, ok in checks(compute(["a", "b"], entries, journal, chaos, settings), chaos, settings) if not ok
    ]
    assert len(failed) == 1
    assert failed[0].startswith(failing)


def test_a_held_task_with_no_handler_is_unrun_and_a_returned_one_is_waiting() -> None:
    watch = HeldWatch()
    watch.observe(0.0, {"w1": ["1:jobs"]})  # taken, no handler yet
    watch.record([Entry("w1", "exec", ("1:jobs", "a"))])
    watch.observe(0.5, {"w1": ["1:jobs"]})  # running: the spell ends at its last sample
    watch.record([Entry("w1", "end", ("1:jobs", "a", "returned"))])
    watch.observe(1.0, {"w1": ["1:jobs"]})  # returned, its result not recorded yet
    watch.observe(1.4, {"w1": ["1:jobs", "2:jobs"]})
    watch.record([Entry("w1", "accepted", ("1:jobs", "a")), Entry("w1", "end", ("2:jobs", "b", "told-worker-lost"))])
    watch.observe(2.0, {"w1": ["1:jobs", "2:jobs"]})  # 1 is done (the sample came first); 2 was stopped
    watch.observe(3.0, {})  # the worker is gone from the sample (reaped, frozen or dead)
    watch.close()
    assert [(s.process_id, s.began, s.ended) for s in watch.unrun] == [("1:jobs", 0.0, 0.0), ("2:jobs", 1.4, 2.0)]
    assert [(s.process_id, s.began, s.ended) for s in watch.waiting] == [("1:jobs", 1.0, 1.4)]


def test_singleton_overlap_leaves_out_the_time_a_holder_was_frozen() -> None:
    entries = [
        Entry("w1", "hold-start", ("1:c", "connection-1", "10.0")),
        Entry("w2", "hold-start", ("2:c", "connection-1", "12.0")),
        Entry("w2", "hold-stop", ("2:c", "connection-1", "20.0", "told-shutdown")),
        Entry("w3", "hold-start", ("3:c", "connection-2", "10.0")),
    ]
    # w1 is frozen from 11 to 12.3 and stops 0.05 s after it is thawed; w3 is killed at 15.
    found = holds(
        [*entries, Entry("w1", "hold-stop", ("1:c", "connection-1", "12.35", "told-worker-lost"))], {"w3": 15.0}, 30.0
    )
    assert Hold("w3", "3:c", "connection-2", 10.0, 15.0) in found
    running = singleton_overlap(found, {"w1": [(11.0, 12.3)]}, running=True)
    frozen = singleton_overlap(found, {"w1": [(11.0, 12.3)]}, running=False)
    assert running is not None and frozen is not None
    assert running.seconds == pytest.approx(0.05)
    assert running.thawed  # w1 was thawed during the overlap: its first moments after the pause
    assert frozen.seconds == pytest.approx(0.35)
    assert singleton_overlap(found, {"w1": [(11.0, 12.3)]}, running=True, thawed=False) is None
    unfrozen = singleton_overlap(found, {}, running=True, thawed=False)
    assert unfrozen is not None and (unfrozen.first.worker, unfrozen.second.worker) == ("w1", "w2")
    assert unfrozen.seconds == pytest.approx(0.35)
    apart = singleton_overlap(holds(entries[2:], {}, 30.0), {}, running=True)
    assert apart is None  # one hold per task: nothing to compare
