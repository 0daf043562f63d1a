"""The chaos soak, short form: three worker processes drain 3,000 tasks while the seeded
schedule kills workers, freezes them past their timeout (one at least while it holds a
task) and restarts Redis (AOF, appendfsync always). The long form is ``nox -s soak``; what
a run proves is in docs/reliability.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from soak.chaos import Rates
from soak.journal import Journal, read_journal
from soak.ledger import Entry
from soak.report import Chaos, checks, compute
from soak.run import run_soak
from soak.settings import Settings

SETTINGS = Settings(
    tasks=3000,
    workers=3,
    seed=20240611,
    rates=Rates(kill=20.0, pause=15.0, restart=8.0, max_downtime=1.0),
    work_ms=1.0,
    drain_timeout=60.0,
)


@pytest.mark.slow
def test_chaos_soak_loses_no_task_and_accepts_no_completion_twice(tmp_path: Path) -> None:
    outcome = run_soak(SETTINGS, tmp_path)
    figures, chaos, report = outcome.figures, outcome.chaos, outcome.report
    # The schedule starts with one of each fault, the pause made while a task is held.
    assert chaos.kills >= 1, report
    assert chaos.pauses_mid_task >= 1, report
    assert chaos.restarts >= 1, report
    # The frozen worker was reaped while it held its task; thawed, its finish was refused.
    assert figures.zombies >= 1, report
    assert figures.zombies_rejected == figures.zombies, report
    assert figures.rejected_but_applied == 0, report
    # Nothing lost, nothing accepted twice, by the workers' ledger and by the server's journal.
    assert figures.lost == 0, report
    assert figures.duplicate_accepted == 0, report
    assert figures.duplicate_applied == 0, report
    assert figures.accepted_not_applied == 0, report
    # At-least-once: re-runs happen only for tasks that an interruption sent back.
    assert figures.reexecutions <= figures.interrupted_requeues, report
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
        _resp("RPUSH", "{soak:jobs}:queue", "a", "b"),
        _resp("MULTI"), _resp("LPOP", "{soak:jobs}:queue", "1"), _resp("INCRBY", "{soak:jobs}:seq", "1"),
        _resp("HSET", process, "1", "a"), _resp("EXEC"),
        _resp("HDEL", process, "1"),  # finish
        _resp("MULTI"), _resp("HSET", process, "2", "b"), _resp("EXEC"),
        _resp("MULTI"), _resp("HINCRBY", "{soak:jobs}:attempts", "b", "1"),
        _resp("LPUSH", "{soak:jobs}:queue", "b"), _resp("DEL", process), _resp("EXEC"),  # reaped
        _resp("SMOVE", "{soak}:workers", "{soak}:reaping", "w1"),
        _resp("HDEL", process, "2")[:-3],  # cut off by a crash mid-write: not applied
    ])  # fmt: skip
    (folder / "appendonly.aof.1.incr.aof").write_bytes(aof)
    journal = read_journal(tmp_path, "soak", "jobs")
    assert journal.enqueued == ["a", "b"]
    assert journal.dequeued == {("w1", 1): "a", ("w1", 2): "b"}
    assert journal.finished == [("w1", 1, "a")]
    assert (journal.requeued, journal.interrupted, journal.declared_dead) == (1, 1, ["w1"])


def test_the_report_fails_a_run_with_a_lost_task_or_a_task_finished_twice() -> None:
    journal = Journal(
        enqueued=["a", "b"],
        dequeued={("w1", 1): "a", ("w2", 2): "a"},
        finished=[("w1", 1, "a"), ("w2", 2, "a")],
    )
    entries = [Entry("w1", "accepted", ("1:jobs", "a")), Entry("w2", "accepted", ("2:jobs", "a"))]
    chaos = Chaos(drained=True)
    figures = compute(["a", "b"], entries, journal, chaos)
    assert (figures.lost, figures.duplicate_accepted, figures.duplicate_applied) == (1, 1, 1)
    failed = [name for name, ok in checks(figures, chaos) if not ok]
    assert [name.split(" = ")[0] for name in failed] == [
        "lost tasks",
        "duplicate accepted completions",
        "duplicate applied finishes",
    ]
