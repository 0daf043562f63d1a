"""The two rows about faults, measured the same way for worqr and every peer.

- **Crash recovery**: a worker holding ``recovery_tasks`` (50) sleeping tasks is SIGKILLed,
  with its process group (a prefork pool or a work horse dies with it), 2 to 4 s after a
  rescuer with the library's default settings started idling on the queue; the figure is
  the seconds from the kill until the rescuer ran all of them again, or how many it ran
  within ``recovery_cap``. A library whose worker holds fewer tasks at once (RQ: one) gets
  as many victim processes as it takes to hold them all.
- **Tasks run twice**: ``twice_tasks`` tasks that carry their index are drained with the
  library's default setup and no fault; the figure is how many indices ran more than once.

Every system's recovery runs on its own private server, all at once: each waits for its
own timeouts, seconds to minutes, while using almost no CPU, and one after another they
would take longer than the rest of the benchmark together.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import redis

from bench.children import ChildFailedError, Shared, own_group, run_twice, started, timed_drain
from bench.settings import Settings
from worqr.testing import RedisServer

#: How long the victims may take to hold every task.
HOLD_TIMEOUT = 60.0


@dataclass(frozen=True)
class Recovery:
    """How a system's worker is killed and rescued. ``victim(url, shared)`` runs a worker
    that holds up to ``capacity`` tasks at once (its tasks `bench.children.tally` into a
    ``shared`` made with ``hold=True``); ``rescuer(url, shared)`` runs a worker with the
    library's default settings that stays up when the queue is empty."""

    victim: Callable[..., None]
    rescuer: Callable[..., None]
    capacity: int = 50
    #: What the reader needs to know about the victim's setup.
    note: str = ""


@dataclass(frozen=True)
class Recovered:
    """``rerun`` of ``tasks`` ran again within ``cap`` seconds; ``seconds`` until the last of
    them, None if not all did."""

    tasks: int
    victims: int
    rerun: int
    seconds: float | None
    cap: float
    error: str = ""


@dataclass(frozen=True)
class Twice:
    """Of ``tasks`` marked tasks, ``handled`` ran in ``seconds`` (all, if ``complete``), and
    ``twice`` indices ran more than once."""

    tasks: int
    handled: int
    twice: int
    seconds: float
    complete: bool


@dataclass(frozen=True)
class Subject:
    """One system in the recovery row: ``fill(url, n)`` queues ``n`` no-op tasks."""

    name: str
    fill: Callable[[str, int], None]
    recovery: Recovery


def twice_drain(
    client: redis.Redis,
    target: Callable[..., None],
    args: tuple[Any, ...],
    fill_marked: Callable[[int], None],
    settings: Settings,
) -> Twice:
    """Queue ``twice_tasks`` marked tasks with ``fill_marked`` and drain them with one
    ``target`` process; count the indices that ran more than once."""
    tasks = settings.twice_tasks
    fill_marked(tasks)
    shared = Shared.make(marks=tasks)
    drain = timed_drain(client, target, args, processes=1, tasks=tasks, seconds=settings.twice_seconds, shared=shared)
    return Twice(tasks, drain.total, run_twice(shared), drain.seconds, drain.complete)


def recover_all(subjects: list[Subject], settings: Settings, say: Callable[[str], None]) -> dict[str, Recovered]:
    """Each subject's crash recovery, all at once, each on its own fresh server."""
    results: dict[str, Recovered] = {}
    rng = random.Random(15)  # noqa: S311 (when to kill, not security)
    delays = {subject.name: rng.uniform(2.0, 4.0) for subject in subjects}
    with ExitStack() as stack:
        urls = {subject.name: stack.enter_context(RedisServer()).url for subject in subjects}

        def measure(subject: Subject) -> None:
            try:
                results[subject.name] = recover(subject, urls[subject.name], settings, delays[subject.name])
            except Exception as exc:  # noqa: BLE001 (a broken peer is reported, not fatal)
                victims = math.ceil(settings.recovery_tasks / subject.recovery.capacity)
                error = f"{type(exc).__name__}: {exc}"
                results[subject.name] = Recovered(
                    settings.recovery_tasks, victims, 0, None, settings.recovery_cap, error
                )
            figure = results[subject.name]
            say(f"{subject.name}: crash recovery: {describe(figure)}")

        say(
            f"crash recovery of {', '.join(urls)}: all at once, each on its own server, "
            f"up to {settings.recovery_cap:.0f} s"
        )
        threads = [threading.Thread(target=measure, args=(s,), name=f"recovery-{s.name}") for s in subjects]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return results


def recover(subject: Subject, url: str, settings: Settings, delay: float) -> Recovered:
    """Fill, let the victims hold every task, start the rescuer, SIGKILL the victims after
    ``delay`` seconds, and time the reruns."""
    tasks, cap, recovery = settings.recovery_tasks, settings.recovery_cap, subject.recovery
    victims = math.ceil(tasks / recovery.capacity)
    subject.fill(url, tasks)
    with started(own_group, (recovery.victim, url), victims, Shared.make(hold=True)) as held:
        held.go()
        holding = held.wait_count(tasks, time.monotonic() + HOLD_TIMEOUT)
        if holding < tasks:
            msg = f"the victims held {holding} of {tasks} tasks after {HOLD_TIMEOUT:.0f} s"
            raise ChildFailedError(msg)
        with started(own_group, (recovery.rescuer, url), 1) as rescuer:
            rescuer.go()
            time.sleep(delay)  # a random phase of both sides' timers, a few beats in
            killed_at = time.monotonic()
            held.kill_groups()
            rerun = rescuer.wait_count(tasks, killed_at + cap)
            took = time.monotonic() - killed_at
    return Recovered(tasks, victims, rerun, took if rerun >= tasks else None, cap)


def describe(figure: Recovered) -> str:
    if figure.error:
        return f"failed: {figure.error}"
    if figure.seconds is not None:
        return f"all {figure.tasks} ran again {figure.seconds:.1f} s after the kill"
    return f"{figure.rerun} of {figure.tasks} ran again within {figure.cap:.0f} s"
