"""Periodic schedules (worqr.schedules) with the threaded client, against a real server: the
runtime workers of a queue fire its schedules, each due time once however many try; upsert,
read and remove; overlap and catch-up; calls on a schedule; clobbered keys and bad input.
The due times across DST changes are in tests/test_schedule_timing.py; the asyncio client's
in tests/test_async_schedules.py; many processes killed mid-run in
tests/scenarios/test_schedule_processes.py; Redis Cluster in
tests/cluster/test_schedules_cluster.py."""

from __future__ import annotations

import json
import math
import queue
import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.helpers import wait_until
from tests.runtime_helpers import FAST, LONG, keys_of
from worqr import (
    Functions,
    InvalidArgumentError,
    InvalidNameError,
    Process,
    RedisCommandError,
    Schedule,
    Worker,
    Worqr,
)
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr.cli import main

MakeWorqr = Callable[..., Worqr]

functions = Functions()
#: Calls of `report`, by the caller's test: (label, the call's id).
REPORTS: queue.Queue[tuple[str, str]] = queue.Queue()


@functions.function(queue="reports")
def report(label: str) -> str:
    from worqr import current_call

    REPORTS.put((label, current_call().id))
    return f"report {label}"


def the_schedule(client: Worqr, name: str) -> Schedule[str]:
    return next(found for found in client.get_schedules() if found.name == name)


def enqueued(raw: redis.Redis, client: Worqr, queue_name: str) -> int:
    return int(raw.hget(QueueKeys(client.prefix, queue_name).counters, "enqueued") or 0)


def run_worker(client: Worqr, queue_name: str, handler: Callable[[Process[str]], object]) -> Worker[str]:
    worker = client.worker(queue_name, handler, concurrency=4)
    worker.start()
    return worker


@pytest.fixture
def workers() -> Any:
    running: list[Worker[Any]] = []
    yield running
    for worker in running:
        worker.stop(grace=0)


def test_workers_of_the_queue_fire_every_due_time_once(
    make_worqr: MakeWorqr, raw: redis.Redis, workers: list[Worker[Any]]
) -> None:
    producer = make_worqr(**FAST)
    made = producer.schedule("tick", "jobs", "tock", every=0.1)
    assert (made.name, made.queue, made.task, made.every, made.cron, made.runs) == (
        "tick",
        "jobs",
        "tock",
        0.1,
        None,
        0,
    )
    assert made.next_due is not None
    assert made.next_due > made.created_at
    ran: queue.Queue[str] = queue.Queue()
    for _ in range(4):  # four workers look at every due time; one of them fires it
        workers.append(run_worker(make_worqr(**FAST), "jobs", lambda p: ran.put(p.task)))
    wait_until(lambda: the_schedule(producer, "tick").runs >= 20, timeout=LONG)
    assert producer.remove_schedule("tick")
    done = the_schedule_gone(producer, "tick")
    assert done
    runs = enqueued(raw, producer, "jobs")
    for _ in range(runs):
        assert ran.get(timeout=LONG) == "tock"
    assert ran.empty()
    assert runs >= 20


def the_schedule_gone(client: Worqr, name: str) -> bool:
    return all(found.name != name for found in client.get_schedules())


def test_each_due_time_fires_once_and_the_cadence_does_not_drift(
    make_worqr: MakeWorqr, raw: redis.Redis, workers: list[Worker[Any]]
) -> None:
    producer = make_worqr(**FAST)
    first = producer.schedule("beat", "jobs", "x", every=0.1).next_due
    assert first is not None
    for _ in range(3):
        workers.append(run_worker(make_worqr(**FAST), "jobs", lambda _: None))
    wait_until(lambda: the_schedule(producer, "beat").runs >= 15, timeout=LONG)
    for worker in workers:
        worker.stop()
    seen = the_schedule(producer, "beat")
    assert seen.last_fired is not None
    assert seen.fired_at is not None
    assert seen.fired_at >= seen.last_fired  # never before its due time
    # The due times fired are first, first + 0.1 s, ...: as many as the queue's exact counter says.
    span = round((seen.last_fired - first).total_seconds() * 10)
    assert seen.runs == span + 1 == enqueued(raw, producer, "jobs")
    assert seen.missed == 0


def test_a_schedule_is_upserted_by_name_and_keeps_its_due_time_when_its_timing_is_kept(make_worqr: MakeWorqr) -> None:
    client = make_worqr(**FAST)
    made = client.schedule("nightly", "jobs", "backup", cron="0 3 * * *", tz="Europe/Berlin")
    assert made.cron == "0 3 * * *"
    assert made.tz == "Europe/Berlin"
    assert made.spec == "cron 0 3 * * * (Europe/Berlin)"
    assert made.next_due is not None
    assert made.next_due.astimezone(made.next_due.tzinfo).timestamp() % 3600 == 0
    kept = client.schedule("nightly", "jobs", "backup --full", cron="0  3 * * *", tz="Europe/Berlin", overlap="skip")
    assert (kept.task, kept.overlap, kept.next_due, kept.created_at) == (
        "backup --full",
        "skip",
        made.next_due,
        made.created_at,
    )
    moved = client.schedule("nightly", "jobs", "backup --full", every=60)
    assert moved.next_due != made.next_due
    assert moved.spec == "every 60s"
    assert [s.name for s in client.get_schedules()] == ["nightly"]


def test_a_schedule_moves_to_another_queue_and_is_removed_from_the_first(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    client = make_worqr(**FAST)
    client.schedule("sync", "alpha", "go", every=60)
    client.schedule("sync", "beta", "go", every=60)
    (found,) = client.get_schedules()
    assert found.queue == "beta"
    assert not raw.exists(QueueKeys(client.prefix, "alpha").schedule("sync"))
    assert raw.zcard(QueueKeys(client.prefix, "alpha").schedule_due) == 0
    assert "beta" in client.get_queues()
    assert client.remove_schedule("sync")
    assert not client.remove_schedule("sync")
    assert client.get_schedules() == []
    assert raw.hlen(RegistryKeys(client.prefix).schedules) == 0


def test_overlap_skip_skips_runs_while_the_previous_one_runs(
    make_worqr: MakeWorqr, raw: redis.Redis, workers: list[Worker[Any]]
) -> None:
    client = make_worqr(**FAST)
    release = threading.Event()
    started: queue.Queue[str] = queue.Queue()

    def slow(process: Process[str]) -> None:
        started.put(process.task)
        release.wait(LONG)

    client.schedule("slow", "jobs", "crunch", every=0.1, overlap="skip")
    workers.append(run_worker(client, "jobs", slow))
    assert started.get(timeout=LONG) == "crunch"
    wait_until(lambda: the_schedule(client, "slow").skipped >= 3, timeout=LONG)
    assert the_schedule(client, "slow").runs == 1
    assert started.empty()  # the worker has free slots: nothing else was enqueued
    release.set()
    assert started.get(timeout=LONG) == "crunch"  # once the first ended, the next due time runs
    client.remove_schedule("slow")
    seen = enqueued(raw, client, "jobs")
    assert seen >= 2


def test_overlap_allow_enqueues_every_due_time_even_while_one_runs(
    make_worqr: MakeWorqr, workers: list[Worker[Any]]
) -> None:
    client = make_worqr(**FAST)
    release = threading.Event()
    client.schedule("fast", "jobs", "crunch", every=0.1)
    workers.append(run_worker(client, "jobs", lambda _: release.wait(LONG)))
    wait_until(lambda: the_schedule(client, "fast").runs >= 4, timeout=LONG)
    assert the_schedule(client, "fast").skipped == 0
    release.set()


HOUR_MS = 3600 * 1000


def as_if_down_for(raw: redis.Redis, client: Worqr, name: str, queue_name: str, ms: int) -> int:
    """Move the schedule's due time ``ms`` into the past, as if no worker had run since: the
    due times in between passed unseen. Returns the due time set (server ms)."""
    due = int(server_now(raw) * 1000) - ms
    raw.zadd(QueueKeys(client.prefix, queue_name).schedule_due, {name: due})
    return due


@pytest.mark.parametrize(("catch_up", "runs", "missed"), [("latest", 1, 0), ("none", 0, 1)])
def test_after_all_workers_were_down_catch_up_makes_one_run_or_none(
    make_worqr: MakeWorqr, raw: redis.Redis, catch_up: str, runs: int, missed: int
) -> None:
    client = make_worqr(**FAST)
    client.schedule("hourly", "jobs", "sweep", every=3600, catch_up=catch_up)  # type: ignore[arg-type]
    ran: queue.Queue[str] = queue.Queue()
    first = run_worker(client, "jobs", lambda p: ran.put(p.task))
    first.stop()  # every worker of the queue is down
    due = as_if_down_for(raw, client, "hourly", "jobs", 3 * HOUR_MS + HOUR_MS // 2)  # 4 due times passed
    second = run_worker(make_worqr(**FAST), "jobs", lambda p: ran.put(p.task))
    try:
        wait_until(lambda: the_schedule(client, "hourly").runs + the_schedule(client, "hourly").missed == 1)
        seen = the_schedule(client, "hourly")
        assert (seen.runs, seen.missed) == (runs, missed)
        assert seen.next_due is not None
        assert seen.next_due.timestamp() * 1000 == due + 4 * HOUR_MS  # the next on the cadence, after now
        if runs:
            assert ran.get(timeout=LONG) == "sweep"
            assert seen.last_fired is not None
            assert seen.last_fired.timestamp() * 1000 == due
        second.stop()
        assert ran.empty()
        assert enqueued(raw, client, "jobs") == runs
    finally:
        second.stop(grace=0)


def test_catch_up_none_still_fires_a_due_time_found_on_time(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    client = make_worqr(**FAST)
    client.schedule("hourly", "jobs", "sweep", every=3600, catch_up="none")
    as_if_down_for(raw, client, "hourly", "jobs", 1000)  # one second late: within ON_TIME_MS
    ran: queue.Queue[str] = queue.Queue()
    worker = run_worker(client, "jobs", lambda p: ran.put(p.task))
    try:
        assert ran.get(timeout=LONG) == "sweep"
        assert (the_schedule(client, "hourly").runs, the_schedule(client, "hourly").missed) == (1, 0)
    finally:
        worker.stop()


def server_now(raw: redis.Redis) -> float:
    seconds, micros = raw.time()
    return seconds + micros / 1e6


def test_a_cron_schedule_fires_at_its_due_time_and_moves_to_the_next_match(
    make_worqr: MakeWorqr, raw: redis.Redis, workers: list[Worker[Any]]
) -> None:
    client = make_worqr(**FAST)
    made = client.schedule("hourly", "jobs", "report", cron="15 * * * *", tz="Asia/Kolkata")
    assert made.next_due is not None
    local = made.next_due.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Kolkata"))
    assert (local.minute, local.second) == (15, 0)
    keys = QueueKeys(client.prefix, "jobs")
    # Behind worqr's back: make the due time come now rather than within the hour.
    due_now = int(server_now(raw) * 1000) - 1
    raw.zadd(keys.schedule_due, {"hourly": due_now})
    ran: queue.Queue[str] = queue.Queue()
    workers.append(run_worker(client, "jobs", lambda p: ran.put(p.task)))
    assert ran.get(timeout=LONG) == "report"
    seen = the_schedule(client, "hourly")
    assert seen.runs == 1
    assert seen.next_due == made.next_due  # the next quarter past, in India's half-hour zone


def test_a_schedule_of_a_call_places_calls_with_ids_and_results(
    make_worqr: MakeWorqr, workers: list[Worker[Any]]
) -> None:
    client = make_worqr(**FAST)
    made = client.schedule_call("daily-report", report, "sales", every=0.1)
    assert (made.queue, made.function, json.loads(made.task)) == (
        "reports",
        report.name,
        {"args": ["sales"], "kwargs": {}},
    )
    worker = client.serve(functions)
    worker.start()
    workers.append(worker)
    label, first_call = REPORTS.get(timeout=LONG)
    assert label == "sales"
    wait_until(lambda: the_schedule(client, "daily-report").runs >= 2, timeout=LONG)
    client.remove_schedule("daily-report")
    last_call = the_schedule_last_call(REPORTS, client)
    assert last_call != first_call
    assert client.get_call(first_call).result(timeout=LONG) == "report sales"
    assert client.get_call(last_call).result(timeout=LONG) == "report sales"
    assert client.get_call(last_call).status().state == "succeeded"


def the_schedule_last_call(reports: queue.Queue[tuple[str, str]], client: Worqr) -> str:
    """The id of the second call the schedule made (each run is a call of its own)."""
    del client
    return reports.get(timeout=LONG)[1]


def test_a_schedule_of_a_call_with_overlap_skip_waits_for_the_last_call(
    make_worqr: MakeWorqr, workers: list[Worker[Any]]
) -> None:
    client = make_worqr(**FAST)
    client.schedule_call("held", report, "held", every=0.1, overlap="skip")
    # A worker of the queue that holds what it takes (it does not run functions): the first
    # call stays running, and every later due time is skipped.
    release = threading.Event()
    workers.append(run_worker(client, "reports", lambda _: release.wait(LONG)))
    wait_until(lambda: the_schedule(client, "held").skipped >= 3, timeout=LONG)
    seen = the_schedule(client, "held")
    assert seen.runs == 1
    assert seen.last_call is not None
    assert client.get_call(seen.last_call).status().state == "running"
    release.set()


def test_schedules_refuse_bad_input_before_anything_is_written(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    client = make_worqr(**FAST)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"cron": "61 * * * *"}, "not a valid cron expression"),
        ({"cron": "* * * *"}, "five fields"),
        ({"cron": "* * * * * *"}, "five fields"),
        ({"cron": 5}, "five fields"),
        ({}, "exactly one of cron= .* or every= .*, got neither"),
        ({"cron": "* * * * *", "every": 5}, "got both"),
        ({"every": 0}, "every must be a number of seconds from 0.01"),
        ({"every": -1}, "every must be"),
        ({"every": math.inf}, "every must be"),
        ({"every": math.nan}, "every must be"),
        ({"every": True}, "every must be"),
        ({"every": "5"}, "every must be"),
        ({"every": 1, "tz": "Mars/Olympus"}, "tz 'Mars/Olympus' is not a time zone"),
        ({"every": 1, "tz": ""}, "tz must be an IANA time zone name"),
        ({"every": 1, "overlap": "queue"}, "overlap must be one of 'allow', 'skip'"),
        ({"every": 1, "catch_up": "all"}, "catch_up must be one of 'latest', 'none'"),
    ]
    for options, message in bad:
        with pytest.raises(InvalidArgumentError, match=message):
            client.schedule("s", "jobs", "task", **options)
    with pytest.raises(InvalidNameError, match="schedule name"):
        client.schedule("", "jobs", "task", every=1)
    with pytest.raises(InvalidNameError, match="queue name"):
        client.schedule("s", "", "task", every=1)
    with pytest.raises(InvalidArgumentError, match="task must be a str"):
        client.schedule("s", "jobs", 5, every=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"registered with @functions\.function"):
        client.schedule_call("s", print, every=1)
    with pytest.raises(InvalidArgumentError):
        client.schedule_call("s", report, 1, 2, every=1)  # report takes one str
    with pytest.raises(InvalidNameError, match="schedule name"):
        client.remove_schedule("")
    assert keys_of(raw, client) == []


def test_a_clobbered_schedule_key_gives_a_clear_error_and_changes_nothing(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    client = make_worqr(**FAST)
    keys = QueueKeys(client.prefix, "jobs")
    raw.set(keys.schedule_due, "not a zset")
    with pytest.raises(RedisCommandError, match=r"WRONGTYPE worqr key .*schedule-due holds a string"):
        client.schedule("s", "jobs", "task", every=1)
    assert not raw.exists(keys.schedule("s"))
    assert not raw.exists(RegistryKeys(client.prefix).schedules)
    assert raw.get(keys.schedule_due) == b"not a zset"


def test_the_cli_lists_schedules(make_worqr: MakeWorqr, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    client = make_worqr(**FAST)
    client.schedule("nightly", "jobs", "backup", cron="0 3 * * *", tz="Europe/Berlin")
    client.schedule("often", "jobs", "ping", every=30)
    assert main(["--redis", redis_url, "--prefix", client.prefix, "schedules"]) == 0
    out = capsys.readouterr().out
    assert "nightly" in out
    assert "cron 0 3 * * * (Europe/Berlin)" in out
    assert "every 30s" in out
    assert main(["--redis", redis_url, "--prefix", client.prefix, "--json", "schedules"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == ["nightly", "often"]
    assert rows[1]["every"] == 30
    assert rows[1]["last_fired"] is None


def test_a_schedule_made_while_the_workers_wait_wakes_them_at_once(
    make_worqr: MakeWorqr, workers: list[Worker[Any]]
) -> None:
    ran: queue.Queue[str] = queue.Queue()
    workers.append(run_worker(make_worqr(**FAST), "jobs", lambda p: ran.put(p.task)))
    client = make_worqr(**FAST)
    client.schedule("new", "jobs", "first", every=0.1)  # its event wakes the ticker: no 30 s look
    assert ran.get(timeout=LONG) == "first"


def test_a_due_time_whose_record_was_deleted_behind_worqrs_back_is_dropped(
    make_worqr: MakeWorqr, raw: redis.Redis, workers: list[Worker[Any]]
) -> None:
    client = make_worqr(**FAST)
    client.schedule("orphan", "jobs", "x", every=0.1)
    keys = QueueKeys(client.prefix, "jobs")
    raw.delete(keys.schedule("orphan"))
    workers.append(run_worker(client, "jobs", lambda _: None))
    wait_until(lambda: raw.zcard(keys.schedule_due) == 0, timeout=LONG)
    assert enqueued(raw, client, "jobs") == 0
