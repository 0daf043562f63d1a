"""The ``worqr`` command line (worqr/cli) against a real server: every command's ``--json``
checked field by field, the human tables checked for their numbers, destructive commands
behind ``--yes``/``--dry-run``, and bad input (an unknown queue, a bad id, a wrong URL, a
wrong password, an unreachable server) giving one line on stderr and exit 1. Most run
``worqr.cli.main`` in this process; ``watch`` and ``worker`` run as real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.cli_helpers import spawn_worqr
from tests.helpers import pause_heartbeat, wait_until, without_reap_hint
from tests.runtime_helpers import FAST, LONG
from worqr import AsyncWorqr, BytesCodec, Worqr
from worqr._protocol.keys import QueueKeys
from worqr.cli import main

MakeWorqr = Callable[..., Worqr]


@pytest.fixture
def cli(redis_url: str, worqr_prefix: str, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``worqr --redis URL --prefix P ARGS...``; (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(["--redis", redis_url, "--prefix", worqr_prefix, *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def as_json(result: tuple[int, str, str]) -> Any:
    status, out, err = result
    assert status == 0, err
    return json.loads(out)


@pytest.fixture
def producer(make_worqr: MakeWorqr) -> Worqr:
    return make_worqr(**FAST)


@pytest.fixture
def worker(make_worqr: MakeWorqr) -> Worqr:
    client = make_worqr(**FAST)
    client.start_worker()
    return client


# Reads ------------------------------------------------------------------------------------


def test_queues_gives_every_field_and_the_exact_counters(cli: Any, producer: Worqr, worker: Worqr) -> None:
    producer.enqueue("mail", ["a", "b", "c", "d", "e"])
    producer.enqueue("mail", ["later"], delay=3600)
    worker.start_work("mail")
    done = worker.dequeue("mail")
    assert done is not None
    worker.finish_process(done.id, None)
    held = worker.dequeue("mail")
    assert held is not None
    failing = worker.dequeue("mail")
    assert failing is not None
    worker.fail_process(failing.id, ValueError("bad address"), max_attempts=1)
    (row,) = as_json(cli("queues", "--json"))
    assert row == {
        "name": "mail",
        "queued": 2,
        "delayed": 1,
        "in_flight": 1,
        "dead_letters": 1,
        "workers": 1,
        "paused": False,
        "counters": {
            "enqueued": 6,
            "finished": 1,
            "failed": 1,
            "dead_lettered": 1,
            "requeued": 0,
            "fenced": 0,
            "cancelled": 0,
        },
    }
    status, out, _ = cli("queues")
    assert status == 0
    header, line = out.strip().splitlines()
    assert header.split() == [
        "NAME", "QUEUED", "DELAYED", "IN_FLIGHT", "DEAD_LETTERS", "WORKERS", "PAUSED", "ENQUEUED", "FINISHED",
    ]  # fmt: skip
    assert line.split() == ["mail", "2", "1", "1", "1", "1", "no", "6", "1"]


def test_workers_gives_the_record_the_heartbeat_age_and_the_tasks_in_flight(
    cli: Any, producer: Worqr, worker: Worqr
) -> None:
    producer.enqueue("mail", ["a", "b"])
    worker.start_work("mail")
    assert worker.dequeue("mail") is not None
    (row,) = as_json(cli("workers", "--json"))
    assert row["id"] == worker.worker_id
    assert row["queues"] == ["mail"]
    assert row["host"] == socket.gethostname()
    assert row["pid"] == os.getpid()
    assert row["in_flight"] == 1
    assert row["alive"] is True
    assert row["state"] == "alive"
    assert 0 <= row["heartbeat_age"] <= FAST["worker_timeout"]
    assert row["started_at"].endswith("+00:00")
    assert (row["ended_at"], row["ended_by"]) == (None, None)
    status, out, _ = cli("workers")
    assert status == 0
    assert worker.worker_id in out
    assert " alive " in out


def test_a_reaped_worker_is_shown_as_ended_not_gone(cli: Any, producer: Worqr, worker: Worqr) -> None:
    producer.enqueue("mail", ["a"])
    worker.start_work("mail")
    assert worker.dequeue("mail") is not None
    assert as_json(cli("reap", worker.worker_id, "--yes", "--json")) == {"reaped": [worker.worker_id]}
    (row,) = as_json(cli("workers", "--json"))
    assert (row["id"], row["alive"], row["state"], row["in_flight"]) == (worker.worker_id, False, "ended", 0)
    assert row["ended_at"] is not None
    assert row["ended_by"] == "declared"  # reaped by force while its heartbeat lived
    assert row["queues"] == ["mail"]  # the queues it worked, kept in its record
    (queue,) = as_json(cli("queues", "--json"))
    assert (queue["queued"], queue["in_flight"]) == (1, 0)  # its task went back


def test_a_worker_whose_heartbeat_expired_is_ended_by_expiry_once_reaped(
    cli: Any, producer: Worqr, worker: Worqr, raw: redis.Redis
) -> None:
    without_reap_hint(raw, producer.prefix)  # it stays overdue until the reap below
    pause_heartbeat(worker)  # as if frozen: its heartbeat key expires
    wait_until(lambda: as_json(cli("workers", "--json"))[0]["state"] == "overdue")
    assert as_json(cli("reap", "--json")) == {"reaped": [worker.worker_id]}
    (row,) = as_json(cli("workers", "--json"))
    assert (row["state"], row["ended_by"]) == ("ended", "expired")


def test_processes_shows_a_preview_unless_asked_and_base64_for_bytes(cli: Any, producer: Worqr, worker: Worqr) -> None:
    long_task = "x" * 100
    producer.enqueue("mail", long_task)
    producer.queue("raw", BytesCodec()).enqueue(b"\xff\xfe")
    worker.start_work("mail")
    worker.start_work("raw")
    held = worker.dequeue("mail")
    assert held is not None
    assert worker.queue("raw", BytesCodec()).dequeue() is not None
    mail, raw = sorted(as_json(cli("processes", "--json")), key=lambda r: r["queue"])
    assert mail == {
        "id": held.id,
        "queue": "mail",
        "worker_id": worker.worker_id,
        "task": "x" * 40,
        "task_size": 100,
        "task_truncated": True,
        "attempt": 1,
    }
    assert raw["task_base64"] == "//4="
    assert "task" not in raw
    (full,) = as_json(cli("processes", "--queue", "mail", "--worker", worker.worker_id, "--show-tasks", "--json"))
    assert (full["task"], full["task_truncated"]) == (long_task, False)


def test_status_shows_queues_and_workers_together(cli: Any, producer: Worqr, worker: Worqr) -> None:
    producer.enqueue("mail", ["a"])
    worker.start_work("mail")
    document = as_json(cli("status", "--json"))
    assert [q["name"] for q in document["queues"]] == ["mail"]
    assert [w["id"] for w in document["workers"]] == [worker.worker_id]


def test_the_common_options_work_before_and_after_the_command(
    redis_url: str, worqr_prefix: str, producer: Worqr, capsys: pytest.CaptureFixture[str]
) -> None:
    producer.enqueue("mail", ["a"])
    assert main(["queues", "--redis", redis_url, "--prefix", worqr_prefix, "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert main(["--json", "--redis", redis_url, "queues", "--prefix", worqr_prefix]) == 0
    assert json.loads(capsys.readouterr().out) == after
    assert after[0]["queued"] == 1


# Dead letters, reap, cancel, delete ----------------------------------------------------------


class SMTPError(Exception):
    """A handler's own error, whose name reaches the dead letter."""


def _dead(producer: Worqr, worker: Worqr, tasks: list[str]) -> None:
    producer.enqueue("mail", tasks)
    worker.start_work("mail")
    for _ in tasks:
        process = worker.dequeue("mail")
        assert process is not None
        worker.fail_process(process.id, SMTPError("550 no such user"), max_attempts=1)


def test_dead_list_requeue_and_purge(cli: Any, producer: Worqr, worker: Worqr) -> None:
    _dead(producer, worker, ["a", "b", "c"])
    listed = as_json(cli("dead", "list", "mail", "--json"))
    assert [(d["task"], d["error_type"], d["error"], d["attempts"]) for d in listed] == [
        ("a", "SMTPError", "550 no such user", 1),
        ("b", "SMTPError", "550 no such user", 1),
        ("c", "SMTPError", "550 no such user", 1),
    ]
    assert all(d["failed_at"] and d["id"] for d in listed)
    first, second, _third = (d["id"] for d in listed)
    assert as_json(cli("dead", "requeue", "mail", first, "--json")) == {"requeued": 1}
    assert producer.get_tasks("mail") == ["a"]
    status, _, err = cli("dead", "purge", "mail", second)
    assert status == 1
    assert "--yes" in err  # not on a terminal: no confirmation, nothing purged
    assert producer.count_dead_letters("mail") == 2
    assert as_json(cli("dead", "purge", "mail", "--dry-run", "--json")) == {
        "purged": 0,
        "would_purge": 2,
        "dry_run": True,
    }
    assert as_json(cli("dead", "purge", "mail", second, "--yes", "--json")) == {"purged": 1}
    assert as_json(cli("dead", "requeue", "mail", "--json")) == {"requeued": 1}
    (row,) = as_json(cli("queues", "--json"))
    assert row["counters"]["requeued"] == 2
    assert row["counters"]["dead_lettered"] == 3
    status, out, _ = cli("dead", "list", "mail")
    assert (status, out.strip()) == (0, "no dead letters")


def state_of(cli: Any, worker_id: str) -> str:
    (row,) = [w for w in as_json(cli("workers", "--json")) if w["id"] == worker_id]
    return str(row["state"])


def test_reap_of_expired_workers_and_of_a_live_one_behind_yes(
    cli: Any, producer: Worqr, worker: Worqr, make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    without_reap_hint(raw, producer.prefix)  # the frozen worker stays overdue until the reap below
    frozen = make_worqr(**FAST)
    frozen.start_worker()
    producer.enqueue("mail", ["a"])
    frozen.start_work("mail")
    assert frozen.dequeue("mail") is not None
    pause_heartbeat(frozen)
    wait_until(lambda: state_of(cli, frozen.worker_id) == "overdue", LONG)
    assert as_json(cli("reap", "--dry-run", "--json")) == {
        "reaped": [],
        "would_reap": [frozen.worker_id],
        "dry_run": True,
    }
    assert as_json(cli("reap", "--json")) == {"reaped": [frozen.worker_id]}
    assert producer.get_tasks("mail") == ["a"]
    status, _, err = cli("reap", worker.worker_id)
    assert status == 1
    assert "--yes" in err
    assert worker.worker_id in producer.get_workers()
    status, _, err = cli("reap", "no-such-worker", "--yes")
    assert (status, err.count("\n")) == (1, 1)
    assert "no registered worker 'no-such-worker'" in err


def test_cancel_delete_and_their_counters(cli: Any, producer: Worqr) -> None:
    producer.enqueue("mail", ["a", "b", "a"])
    assert as_json(cli("cancel", "mail", "a", "--json")) == {"cancelled": 2}
    assert producer.get_tasks("mail") == ["b"]
    assert as_json(cli("delete", "mail", "--dry-run", "--json")) == {"deleted": 0, "would_delete": 1, "dry_run": True}
    (row,) = as_json(cli("queues", "--json"))
    assert row["counters"]["cancelled"] == 2
    assert as_json(cli("delete", "mail", "--yes", "--json")) == {"deleted": 1}
    assert producer.get_tasks("mail") == []


# Pause and resume -----------------------------------------------------------------------------


def test_pause_under_a_running_drain_hands_out_nothing_until_resume(
    cli: Any, producer: Worqr, make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    started: list[str] = []
    client = make_worqr(**FAST)
    drain = client.worker("jobs", lambda process: started.append(process.task), concurrency=2)
    producer.enqueue("jobs", [str(i) for i in range(2000)])
    drain.start()
    try:
        wait_until(lambda: len(started) >= 10, LONG)
        assert as_json(cli("pause", "jobs", "--json")) == {"queue": "jobs", "paused": True, "was_paused": False}
        at_pause = producer.count_queue("jobs")
        wait_until(lambda: producer.inspect_queues(["jobs"])[0].in_flight == 0, LONG)
        handed_out = len(started)
        # A new task wakes the idle worker (the enqueue takes it out of the idle set); its
        # dequeue finds the queue paused and puts it back: only then is it in the set again.
        producer.enqueue("jobs", "one more")
        idle = QueueKeys(producer.prefix, "jobs").idle
        wait_until(lambda: raw.zscore(idle, client.worker_id) is not None, LONG)
        assert len(started) == handed_out
        assert producer.count_queue("jobs") == at_pause + 1
        (row,) = as_json(cli("queues", "jobs", "--json"))
        assert row["paused"] is True
        assert as_json(cli("resume", "jobs", "--json")) == {"queue": "jobs", "paused": False, "was_paused": True}
        wait_until(lambda: len(started) == 2001, LONG)
    finally:
        drain.stop()
    assert "one more" in started


# check ------------------------------------------------------------------------------------------


def test_check_is_0_when_all_is_well_and_3_with_the_reasons(cli: Any, worker: Worqr) -> None:
    assert as_json(cli("check", "--json")) == {"ok": True, "problems": []}
    pause_heartbeat(worker)
    wait_until(lambda: cli("check")[0] == 3, LONG)
    status, out, _ = cli("check", "--json")
    document = json.loads(out)
    assert (status, document["ok"]) == (3, False)
    (problem,) = document["problems"]
    assert worker.worker_id in problem
    assert "heartbeat expired" in problem


# Bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("queues", "nope"),
        ("dead", "list", "nope"),
        ("pause", "nope"),
        ("processes", "--queue", "nope"),
        ("cancel", "nope", "a"),
    ],
)
def test_an_unknown_queue_is_one_line_and_exit_1(cli: Any, producer: Worqr, args: tuple[str, ...]) -> None:
    producer.enqueue("mail", ["a"])
    status, out, err = cli(*args)
    assert (status, out) == (1, "")
    assert err == "worqr: error: no queue named 'nope' under prefix " + repr(producer.prefix) + " (known: 'mail')\n"


def test_a_bad_dead_letter_id_is_refused_without_changing_anything(cli: Any, producer: Worqr, worker: Worqr) -> None:
    _dead(producer, worker, ["a"])
    status, _, err = cli("dead", "requeue", "mail", "not-an-id")
    assert status == 1
    assert err.startswith("worqr: error: ") and err.count("\n") == 1
    assert producer.count_dead_letters("mail") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:6379", "redis"),
        ("redis://127.0.0.1:{free}/0", "127.0.0.1:{free}"),
        ("redis://cli-user:s3cret-pass@{server}/0", "refused the credentials"),
    ],
)
def test_a_wrong_url_an_unreachable_server_and_a_wrong_password_are_one_line(
    redis_url: str, raw: redis.Redis, capsys: pytest.CaptureFixture[str], url: str, words: str
) -> None:
    free, server = _free_port(), redis_url.split("//", 1)[1].split("/", 1)[0]
    admin: Any = raw  # redis-py's execute_command is untyped
    admin.execute_command("ACL", "SETUSER", "cli-user", "reset", "on", ">the-right-one", "+@all", "~*", "&*")
    try:
        status = main(["--redis", url.format(free=free, server=server), "queues"])
    finally:
        admin.execute_command("ACL", "DELUSER", "cli-user")
    out, err = capsys.readouterr()
    assert (status, out) == (1, "")
    assert err.startswith("worqr: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert "s3cret-pass" not in err
    assert words.format(free=free) in err.lower() or words in err


def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["dead", "list"])
    assert exited.value.code == 2
    assert "QUEUE" in capsys.readouterr().err


# Real processes: watch and worker ---------------------------------------------------------------


def test_watch_prints_events_as_ndjson_until_interrupted(
    redis_url: str, worqr_prefix: str, producer: Worqr, worqr_processes: list[subprocess.Popen[str]]
) -> None:
    producer.enqueue("mail", ["first"])
    watcher = spawn_worqr(worqr_processes, "watch", "mail", "--redis", redis_url, "--prefix", worqr_prefix)
    assert watcher.stdout is not None
    assert json.loads(watcher.stdout.readline()) == {"watching": ["mail"]}  # subscribed
    producer.cancel_tasks("mail", "first")
    assert json.loads(watcher.stdout.readline()) == {"queue": "mail", "type": "cancel", "message": "first"}
    watcher.send_signal(signal.SIGINT)
    assert watcher.wait(LONG) == 0


def test_worker_runs_a_handler_from_a_module_and_stops_on_sigterm(
    redis_url: str, worqr_prefix: str, producer: Worqr, worqr_processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    (tmp_path / "shop_tasks.py").write_text(
        textwrap.dedent(
            """
            def handle(process):
                return {"handled": process.task}
            """
        )
    )
    producer.enqueue("orders", ["o1", "o2"])
    worker = spawn_worqr(
        worqr_processes,
        "--redis", redis_url, "--prefix", worqr_prefix,
        "worker", "shop_tasks:handle", "--queue", "orders", "--concurrency", "2",
        cwd=tmp_path,
    )  # fmt: skip
    wait_until(lambda: producer.inspect_queues(["orders"])[0].counters.finished == 2, LONG)
    (info,) = [w for w in producer.inspect_workers() if w.alive]
    assert (info.pid, info.concurrency, info.queues) == (worker.pid, 2, ("orders",))
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(LONG) == 0


def test_worker_refuses_a_target_it_cannot_run(
    redis_url: str, worqr_prefix: str, worqr_processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    (tmp_path / "shop_tasks.py").write_text("LIMIT = 3\n")
    for target, words in (("shop_tasks", "MODULE:ATTR"), ("shop_tasks:LIMIT", "neither"), ("nope:x", "cannot import")):
        done = spawn_worqr(
            worqr_processes, "--redis", redis_url, "--prefix", worqr_prefix, "worker", target, cwd=tmp_path
        )
        _, err = done.communicate(timeout=LONG)
        assert done.returncode == 1, err
        assert words in err
        assert err.count("\n") == 1


def test_the_clients_and_the_command_line_take_the_same_defaults_from_the_environment(
    redis_url: str, worqr_prefix: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORQR_REDIS_URL", redis_url)
    monkeypatch.setenv("WORQR_PREFIX", worqr_prefix)
    with Worqr() as app:  # an application that names neither
        assert app.prefix == worqr_prefix
        app.enqueue("from-env", ["a"])
    assert AsyncWorqr().prefix == worqr_prefix
    assert Worqr(prefix="explicit").prefix == "explicit"
    capsys.readouterr()
    assert main(["--json", "queues"]) == 0
    assert [row["name"] for row in json.loads(capsys.readouterr().out)] == ["from-env"]
