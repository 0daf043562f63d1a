"""Security: least-privilege ACL users (the exact lines documented in docs/security.md),
passwords and TLS, isolation between prefixes, payloads that never execute, and logs that
never show a password or a payload."""

from __future__ import annotations

import ast
import asyncio
import logging
import pathlib
import pickle
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry

import worqr
from tests.acl_helpers import acl_for, documented_acl
from tests.helpers import pause_heartbeat, wait_until
from tests.protocol_helpers import all_calls
from tests.redis_helpers import snapshot
from worqr import (
    AsyncWorqr,
    Backoff,
    BytesCodec,
    ChannelNotice,
    CodecError,
    Event,
    JsonCodec,
    Process,
    RedisPermissionError,
    RedisUnavailableError,
    Worqr,
)
from worqr._io import listening as _listener
from worqr._protocol import flows
from worqr._protocol.keys import RegistryKeys
from worqr._protocol.scripts import script
from worqr.cli import main as cli_main
from worqr.metrics.prometheus import WorqrCollector
from worqr.testing import RedisServer, ServerNotFoundError, TlsFiles, server_binaries

# The documented ACLs ---------------------------------------------------------------------------


def granted_commands(rules: list[str]) -> set[str]:
    return {rule[1:].upper() for rule in rules if rule.startswith("+")}


_CALLED = re.compile(r'(?:redis\.call|call_chunked)\("([A-Z]+)"')
#: The scripts behind the producer's operations: enqueue (with add_queue, or schedule when
#: delayed), cancel_tasks, delete_queue (with remove_queue), a call and its cancel, the
#: periodic schedules' upsert and removal, and a stream's publish.
PRODUCER_SCRIPTS = (
    "add_queue", "enqueue", "schedule", "cancel", "delete_queue", "remove_queue", "calls/call", "calls/call_cancel",
    "schedules/put", "schedules/remove", "schedules/index", "schedules/peek", "streams/publish",
)  # fmt: skip
#: What the runner and the listener send besides the calls of worqr._protocol.ops (PING: the
#: listener's health check on its subscribed connection).
PROTOCOL = {"EVALSHA", "SCRIPT|LOAD", "SUBSCRIBE", "UNSUBSCRIBE", "PING"}


def commands_of_scripts(names: list[str] | tuple[str, ...]) -> set[str]:
    return {command for name in names for command in _CALLED.findall(script(name).source)}


def read_commands() -> set[str]:
    """The plain commands worqr sends, as an ACL grants them (``XINFO GROUPS``: ``+xinfo``)."""
    return {call.command.split()[0] for call in all_calls("q", "w") if call.command is not None}


def test_the_documented_acls_grant_exactly_the_commands_worqr_sends() -> None:
    """Least privilege: every command worqr sends (itself or inside a script) is granted,
    and nothing else is. Redis checks commands inside scripts against the caller's ACL too,
    so a missing one would fail a script half-way."""
    scripts = {call.script for call in all_calls("q", "w") if call.script is not None}
    worker = commands_of_scripts(sorted(scripts)) | read_commands() | PROTOCOL
    producer = commands_of_scripts(PRODUCER_SCRIPTS) | (read_commands() - {"INFO"}) | PROTOCOL
    assert granted_commands(documented_acl("worker")) == worker
    assert granted_commands(documented_acl("producer")) == producer
    assert granted_commands(documented_acl("monitor")) == (read_commands() - {"INFO"}) | PROTOCOL - {
        "EVALSHA",
        "SCRIPT|LOAD",
    }


@pytest.fixture(scope="module")
def acl_server() -> Iterator[RedisServer]:
    """A server of this module's own: the tests add ACL users to it."""
    with RedisServer() as server:
        yield server


@dataclass
class Users:
    """ACL users made for one test, on a fresh prefix, and the admin connection."""

    server: RedisServer
    admin: Any  # redis-py's execute_command is untyped
    prefix: str
    made: list[str]

    def url(self, name: str, password: str) -> str:
        return f"redis://{name}:{password}@127.0.0.1:{self.server.port}/0"

    def make(self, name: str, rules: list[str]) -> str:
        """Create user ``name`` with ``rules``; return its URL (password: ``pw-<name>``)."""
        self.admin.execute_command("ACL", "SETUSER", name, "reset", *rules)
        self.made.append(name)
        return self.url(name, f"pw-{name}")

    def role(self, name: str, role: str, *, drop: tuple[str, ...] = (), prefix: str | None = None) -> str:
        """A user with the documented ACL of ``role``, minus the rules in ``drop``."""
        rules = [r for r in acl_for(role, prefix or self.prefix, f"pw-{name}") if r not in drop]
        return self.make(name, rules)

    def denials(self) -> list[str]:
        """What the ACL LOG recorded for our users, apart from redis-py's optional CLIENT SETINFO."""
        entries = self.admin.execute_command("ACL", "LOG")
        found = []
        for entry in entries:
            fields = entry if isinstance(entry, dict) else dict(zip(entry[::2], entry[1::2], strict=True))
            fields = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
            user = fields["username"].decode() if isinstance(fields["username"], bytes) else fields["username"]
            thing = fields["object"].decode() if isinstance(fields["object"], bytes) else fields["object"]
            if user in self.made and thing != "client|setinfo":
                found.append(f"{user}: {fields['reason']!r} {thing}")
        return found


@pytest.fixture
def users(acl_server: RedisServer) -> Iterator[Users]:
    admin: Any = redis.Redis.from_url(acl_server.url)
    admin.execute_command("ACL", "LOG", "RESET")
    made = Users(acl_server, admin, f"sec-{uuid.uuid4().hex[:8]}", [])
    yield made
    for name in made.made:
        admin.execute_command("ACL", "DELUSER", name)
    admin.close()


def test_the_monitor_acl_reads_everything_and_every_write_is_refused_before_anything_happens(
    users: Users, capsys: pytest.CaptureFixture[str]
) -> None:
    monitor_url, worker_url = users.role("monitor", "monitor"), users.role("worker", "worker")
    with Worqr(redis=worker_url, prefix=users.prefix, heartbeat_interval=0.1) as worker:
        worker.enqueue("jobs", ["one", "two", "three"])
        worker.start_worker()
        worker.start_work("jobs")
        held, failing = worker.dequeue("jobs"), worker.dequeue("jobs")
        assert held and failing
        assert worker.fail_process(failing.id, "boom", max_attempts=1).dead_letter_id is not None
        (dead_letter,) = worker.get_dead_letters("jobs")
        worker.stream("events").subscribe("g")
        worker.stream("events").publish("e")

        def run(*args: str) -> tuple[int, str]:
            capsys.readouterr()
            status = cli_main(["--redis", monitor_url, "--prefix", users.prefix, "--json", *args])
            out, err = capsys.readouterr()
            return status, out + err

        for read in (
            ["status"],
            ["queues"],
            ["workers"],
            ["processes"],
            ["dead", "list", "jobs"],
            ["check"],
            ["leases"],
            ["schedules"],
            ["streams"],
            ["stream", "events"],
        ):
            assert run(*read)[0] == 0, read
        with Worqr(redis=monitor_url, prefix=users.prefix) as monitor:
            (queue,) = monitor.inspect_queues()
            assert (queue.queued, queue.in_flight, queue.dead_letters) == (1, 1, 1)
            assert [w.id for w in monitor.inspect_workers()] == [worker.worker_id]
            registry = CollectorRegistry()
            registry.register(WorqrCollector(monitor))
            assert registry.get_sample_value("worqr_up") == 1
            assert users.denials() == []
            before = snapshot(users.admin, users.prefix)
            writes = [
                ["pause", "jobs"],
                ["dead", "requeue", "jobs"],
                ["dead", "purge", "jobs", dead_letter.id, "--yes"],
                ["reap", worker.worker_id, "--yes"],
                ["cancel", "jobs", "one"],
                ["delete", "jobs", "--yes"],
            ]
            for write in writes:
                status, said = run(*write)
                assert status == 1, write
                assert said.startswith("worqr: error: ") and "may not" in said and said.count("\n") == 1, said
            with pytest.raises(RedisPermissionError, match="may not"):
                monitor.enqueue("jobs", "four")
            with pytest.raises(RedisPermissionError, match="may not"):
                monitor.schedule("nightly", "jobs", "four", every=60)
            assert snapshot(users.admin, users.prefix) == before
        assert all("evalsha" in denial for denial in users.denials())


def test_a_producer_and_workers_work_with_exactly_the_documented_acls(users: Users) -> None:
    producer_url, worker_url = users.role("producer", "producer"), users.role("worker", "worker")
    events: list[Event] = []
    with (
        Worqr(redis=producer_url, prefix=users.prefix) as producer,
        Worqr(redis=worker_url, prefix=users.prefix, heartbeat_interval=0.1, cleanup_interval=0.2) as worker,
        Worqr(redis=worker_url, prefix=users.prefix, heartbeat_interval=0.1) as peer,
    ):
        producer.on("jobs", events.append)
        producer.enqueue("jobs", "one")
        producer.enqueue("jobs", ["two", "three", "four"], unique=True)
        producer.enqueue("jobs", "later", delay=3600)
        worker.start_worker()
        worker.start_work("jobs")
        peer.start_worker()
        peer.start_work("jobs")
        first, second, third = worker.dequeue("jobs"), worker.dequeue("jobs"), worker.dequeue("jobs")
        assert first and second and third
        worker.finish_process(first.id, {"ok": True})
        worker.stop_process(second.id)
        assert worker.fail_process(third.id, "boom", max_attempts=1).dead_letter_id is not None
        assert [d.task for d in producer.get_dead_letters("jobs")] == ["three"]
        assert worker.requeue_dead_letters("jobs") == 1
        held = peer.dequeue("jobs")
        assert held is not None
        pause_heartbeat(peer)
        users.admin.delete(RegistryKeys(users.prefix).heartbeat(peer.worker_id))
        wait_until(lambda: peer.worker_id not in producer.get_workers())  # reaped by the worker's cleanup
        wait_until(lambda: producer.get_tasks("jobs")[:1] == [held.task])  # the reap gives it back a step later
        assert producer.count_queue("jobs") == 3
        assert producer.count_delayed("jobs") == 1
        assert producer.peek_queue("jobs") == held.task
        assert producer.get_matching_processes("four") == []
        assert producer.cancel_tasks("jobs", "later") == 1
        worker.stop_work("jobs")
        assert producer.delete_queue("jobs") == 3
        wait_until(lambda: {"work", "scheduled", "done", "cancel", "delete"} <= {e.type for e in events})
    assert users.denials() == []


async def test_the_async_client_works_with_exactly_the_documented_acls(users: Users) -> None:
    producer_url, worker_url = users.role("aproducer", "producer"), users.role("aworker", "worker")
    events: list[Event] = []
    async with (
        AsyncWorqr(redis=producer_url, prefix=users.prefix) as producer,
        AsyncWorqr(redis=worker_url, prefix=users.prefix) as worker,
    ):
        await producer.on("jobs", events.append)
        await producer.enqueue("jobs", ["a", "b"], unique=True)
        await worker.start_worker()
        await worker.start_work("jobs")
        process = await worker.dequeue("jobs")
        assert process is not None
        await worker.finish_process(process.id, 1)
        failed = await worker.dequeue("jobs")
        assert failed is not None
        await worker.fail_process(failed.id, "boom", max_attempts=2)
        assert await producer.count_delayed("jobs") == 1
        for _ in range(200):
            if {e.type for e in events} >= {"work", "done", "scheduled"}:
                break
            await asyncio.sleep(0.01)
        assert {e.type for e in events} >= {"work", "done", "scheduled"}
    assert users.denials() == []


ACL_FUNCTIONS = worqr.Functions()


@ACL_FUNCTIONS.function(queue="acl-calls", max_attempts=1)
def acl_double(n: int) -> int:
    worqr.current_call().report_progress({"n": n})
    return 2 * n


def test_calls_work_with_exactly_the_documented_acls(users: Users) -> None:
    """A producer with the producer ACL places, follows, cancels and waits for calls that a
    worker with the worker ACL serves; nothing is refused."""
    producer_url, worker_url = users.role("cproducer", "producer"), users.role("cworker", "worker")
    with (
        Worqr(redis=producer_url, prefix=users.prefix) as producer,
        Worqr(redis=worker_url, prefix=users.prefix) as worker,
    ):
        waiting = producer.call(acl_double.with_options(delay=3600), 1)
        assert waiting.cancel() is True
        keyed = producer.call(acl_double.with_options(key="only"), 2)
        assert producer.call(acl_double.with_options(key="only"), 3).id == keyed.id
        with worker.serve(ACL_FUNCTIONS):
            assert keyed.result(timeout=10) == 4
            assert producer.get_call(keyed.id).status().state == "succeeded"
        assert waiting.status().state == "cancelled"
    assert users.denials() == []


def test_schedules_work_with_exactly_the_documented_acls(users: Users) -> None:
    """A producer with the producer ACL creates, reads and removes schedules; workers with
    the worker ACL fire them (a task and a call); nothing is refused."""
    producer_url, worker_url = users.role("sproducer", "producer"), users.role("sworker", "worker")
    ran: list[str] = []
    with (
        Worqr(redis=producer_url, prefix=users.prefix) as producer,
        Worqr(redis=worker_url, prefix=users.prefix) as worker,
        Worqr(redis=worker_url, prefix=users.prefix) as server,
    ):
        producer.schedule("often", "jobs", "tick", every=0.1, overlap="skip")
        producer.schedule_call("doubled", acl_double, 21, every=0.1)
        with worker.worker("jobs", lambda process: ran.append(process.task)), server.serve(ACL_FUNCTIONS):
            wait_until(lambda: all(s.runs >= 2 for s in producer.get_schedules()))
            assert producer.remove_schedule("often")
            last = next(s for s in producer.get_schedules() if s.name == "doubled").last_call
            assert producer.remove_schedule("doubled")
            assert last is not None
            assert producer.get_call(last).result(timeout=10) == 42  # served before the server stops
        assert ran[:2] == ["tick", "tick"]
    assert users.denials() == []


def test_the_producer_acl_refuses_worker_operations_before_writing_anything(users: Users) -> None:
    worker_url, producer_url = users.role("worker", "worker"), users.role("producer", "producer")
    with (
        Worqr(redis=worker_url, prefix=users.prefix) as worker,
        Worqr(redis=producer_url, prefix=users.prefix) as producer,
    ):
        producer.enqueue("jobs", ["a", "b"])
        worker.start_worker()
        worker.start_work("jobs")
        process = worker.dequeue("jobs")
        assert process is not None
        admin = users.admin
        before = snapshot(admin, users.prefix)
        with pytest.raises(RedisPermissionError, match=r"may not run register_worker .*docs/security\.md"):
            producer.start_worker()
        producer_as_worker = Worqr(redis=producer_url, prefix=users.prefix, worker_id=worker.worker_id)
        with pytest.raises(RedisPermissionError, match="may not run finish"):
            producer_as_worker.finish_process(process.id)  # cannot impersonate a worker
        with pytest.raises(RedisPermissionError, match="may not run"):
            producer.cleanup_workers()
        producer_as_worker.close()
        assert snapshot(admin, users.prefix) == before


def test_a_producer_acl_without_the_counters_is_refused_before_anything_is_written(users: Users) -> None:
    """The producer line of a worqr before the counters: every producer script names the
    queue's counters among its KEYS, so Redis refuses it before the script starts (a key
    the script only derived would be refused half-way, after the task went in)."""
    older = users.role("older", "producer", drop=(f"~{{{users.prefix}:*}}:counters",))
    with Worqr(redis=users.role("worker", "worker"), prefix=users.prefix) as worker:
        worker.enqueue("jobs", ["a", "b"])  # the queue is listed and holds tasks
    before = snapshot(users.admin, users.prefix)
    with Worqr(redis=older, prefix=users.prefix) as producer:
        attempts: list[Callable[[], object]] = [
            lambda: producer.enqueue("jobs", "c"),
            lambda: producer.enqueue("jobs", "d", delay=60),
            lambda: producer.cancel_tasks("jobs", "a"),
        ]
        for attempt in attempts:
            with pytest.raises(RedisPermissionError, match="may not run"):
                attempt()
    assert snapshot(users.admin, users.prefix) == before


def test_a_user_whose_acl_covers_another_prefix_gets_a_clear_error(users: Users) -> None:
    url = users.role("elsewhere", "worker", prefix="other-app")
    before = snapshot(users.admin, users.prefix)
    with Worqr(redis=url, prefix=users.prefix) as wq:
        with pytest.raises(RedisPermissionError, match="may not run enqueue") as caught:
            wq.enqueue("jobs", "a")
        assert "ACL" in str(caught.value)
        with pytest.raises(RedisPermissionError, match="may not run LLEN"):
            wq.count_queue("jobs")
    assert snapshot(users.admin, users.prefix) == before


def test_a_wrong_password_gives_a_clear_error_that_does_not_show_it(users: Users) -> None:
    users.role("worker", "worker")
    wrong = Worqr(redis=users.url("worker", "not-the-password"), prefix=users.prefix)
    with wrong, pytest.raises(RedisPermissionError, match="refused the credentials") as caught:
        wrong.enqueue("jobs", "a")
    assert "not-the-password" not in str(caught.value)
    assert f"redis://127.0.0.1:{users.server.port}/0" in str(caught.value)


def test_a_user_that_may_not_load_scripts_gets_a_clear_error(users: Users) -> None:
    url = users.role("noload", "worker", drop=("+script|load",))
    users.admin.script_flush()
    with Worqr(redis=url, prefix=users.prefix) as wq, pytest.raises(RedisPermissionError, match="SCRIPT LOAD"):
        wq.enqueue("jobs", "a")


def test_without_info_start_worker_works_and_says_it_skipped_the_eviction_check(
    users: Users, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="worqr")
    url = users.role("noinfo", "worker", drop=("+info",))
    with Worqr(redis=url, prefix=users.prefix) as wq:
        wq.start_worker()
    assert "cannot read Redis's maxmemory-policy" in caplog.text


def test_a_user_without_the_channel_gets_a_clear_error_from_on(users: Users, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_listener, "SUBSCRIBE_TIMEOUT", 1.0)
    url = users.role("nochannel", "worker", drop=(f"&{{{users.prefix}:*",))
    with Worqr(redis=url, prefix=users.prefix) as wq, pytest.raises(RedisPermissionError, match="SUBSCRIBE"):
        wq.on("jobs", print)


# TLS -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A TLS-only server with a throwaway CA, or a skip if no server binary here has TLS."""
    try:
        files = TlsFiles.create(tmp_path_factory.mktemp("tls"))
    except ServerNotFoundError as exc:
        pytest.skip(str(exc))
    tried = []
    for binary in server_binaries():
        server = RedisServer(binary=binary, tls=files)
        try:
            server.start()
        except ServerNotFoundError:
            server.close()
            tried.append(binary)
            continue
        yield server
        server.close()
        return
    pytest.skip(f"no server binary with TLS support (tried {tried}); Debian's redis-server has it")


def test_a_producer_and_a_worker_work_over_tls_with_a_password(tls_server: RedisServer) -> None:
    admin: Any = redis.Redis.from_url(tls_server.url)
    admin.execute_command("ACL", "SETUSER", "tls-user", "reset", *acl_for("worker", "tls", "tls-pw"))
    url = tls_server.url.replace("rediss://", "rediss://tls-user:tls-pw@")
    events: list[Event] = []
    with Worqr(redis=url, prefix="tls") as producer, Worqr(redis=url, prefix="tls") as worker:
        assert "tls-pw" not in repr(worker) and "rediss://" in repr(worker)
        producer.on("jobs", events.append)
        producer.enqueue("jobs", "over tls")
        worker.start_worker()
        worker.start_work("jobs")
        process = worker.dequeue("jobs")
        assert process is not None and process.task == "over tls"
        worker.finish_process(process.id, "done")
        wait_until(lambda: any(e.type == "done" for e in events))
    admin.close()


async def test_the_async_client_works_over_tls(tls_server: RedisServer) -> None:
    async with AsyncWorqr(redis=tls_server.url, prefix="tls-async") as wq:
        await wq.enqueue("jobs", "a")
        await wq.start_worker()
        await wq.start_work("jobs")
        process = await wq.dequeue("jobs")
        assert process is not None
        await wq.finish_process(process.id)


def test_a_client_that_does_not_trust_the_server_certificate_refuses_to_talk(tls_server: RedisServer) -> None:
    untrusted = Worqr(redis=f"rediss://127.0.0.1:{tls_server.port}/0")  # trusts the system CAs only
    with untrusted, pytest.raises(RedisUnavailableError) as caught:
        untrusted.count_queue("jobs")
    assert "certificate" in str(caught.value).lower()


# Isolation between prefixes ---------------------------------------------------------------------


def test_two_prefixes_on_one_server_never_see_or_touch_each_other(redis_url: str, raw: redis.Redis) -> None:
    base = f"iso-{uuid.uuid4().hex[:8]}"
    mine, theirs = base, f"{base}:x"  # one prefix extends the other: the worst case for key names
    their_events: list[Event] = []
    with (
        Worqr(redis=redis_url, prefix=theirs) as their_producer,
        Worqr(redis=redis_url, prefix=theirs, worker_id="shared-id") as their_worker,
        Worqr(redis=redis_url, prefix=mine) as producer,
        Worqr(redis=redis_url, prefix=mine, worker_id="shared-id") as worker,
    ):
        their_producer.on("q", their_events.append)
        their_producer.on("x:q", their_events.append)
        their_producer.enqueue("q", ["t1", "t2"], unique=True)
        their_worker.start_worker()
        their_worker.start_work("q")
        assert their_worker.dequeue("q") is not None
        pause_heartbeat(their_worker)  # expired in their registry, waiting for their reaper
        raw.delete(RegistryKeys(theirs).heartbeat("shared-id"))
        wait_until(lambda: bool(their_events))
        their_events.clear()
        before = snapshot(raw, theirs)

        producer.enqueue("q", ["t1", "t2"], unique=True)  # same names, same payloads, same worker id
        producer.enqueue("x:q", "nested")
        worker.start_worker()
        worker.start_work("q")
        process = worker.dequeue("q")
        assert process is not None
        worker.finish_process(process.id)
        producer.cancel_tasks("q", "t2")
        assert worker.cleanup_workers() == []  # their expired worker is not ours to reap
        worker.fail_worker("shared-id")
        producer.delete_queue("q")
        producer.delete_queue("x:q")
        assert "q" not in producer.get_queues()

        assert snapshot(raw, theirs) == before
        assert their_events == []
        assert their_producer.get_queues() == ["q"]
        assert their_producer.get_workers() == ["shared-id"]


# Payloads never execute ------------------------------------------------------------------------


class Trap:
    """Unpickling this creates a file: proof that something unpickled a payload."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return pathlib.Path.touch, (self.marker,)


def test_a_pickle_payload_is_stored_and_returned_as_bytes_and_never_run(
    make_worqr: Callable[..., Worqr], tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(Trap(marker))
    producer, worker = make_worqr(), make_worqr()
    events: list[Event] = []
    producer.on("jobs", events.append)
    producer.queue("jobs", BytesCodec()).enqueue_many([payload, payload, payload])
    worker.start_worker()
    worker.start_work("jobs")
    process = worker.queue("jobs", BytesCodec()).dequeue()
    assert process is not None and process.task == payload
    worker.finish_process(process.id)
    with pytest.raises(CodecError) as as_text:
        worker.dequeue("jobs")
    with pytest.raises(CodecError) as as_json:
        worker.queue("jobs", JsonCodec()).dequeue()
    assert as_text.value.payload == as_json.value.payload == payload
    assert as_text.value.process_id is not None and as_json.value.process_id is not None
    worker.stop_process(as_text.value.process_id)
    worker.fail_process(as_json.value.process_id, "undecodable", max_attempts=1)
    assert [d.task for d in producer.queue("jobs", BytesCodec()).dead_letters()] == [payload]
    wait_until(lambda: any(e.type == "done" for e in events))
    assert next(e for e in events if e.type == "done").task_encoding == "base64"
    assert not marker.exists()


def test_the_package_never_deserializes_or_evaluates_code() -> None:
    forbidden_modules = {"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "yaml", "jsonpickle"}
    forbidden_calls = {"eval", "exec", "compile", "__import__"}
    package = Path(worqr.__file__).parent
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & forbidden_modules, path
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in forbidden_modules, path
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in forbidden_calls, f"{path}: {node.func.id}()"


# Logs ------------------------------------------------------------------------------------------


def test_logs_never_show_the_password_or_a_payload(caplog: pytest.LogCaptureFixture) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    marker = f"PAYLOAD-{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    aof = ["--appendonly", "yes", "--appendfsync", "always"]
    with RedisServer(extra_args=["--requirepass", password, *aof]) as server:
        url = f"redis://default:{password}@127.0.0.1:{server.port}/0"
        settings: dict[str, Any] = {"redis": url, "prefix": "logs", "heartbeat_interval": 0.05, "cleanup_interval": 0.1}

        def broken_callback(event: Event) -> None:
            raise RuntimeError("callback failed")

        with (
            Worqr(**settings) as producer,
            Worqr(**settings) as worker,
            Worqr(**settings, worker_timeout=0.5) as victim,
        ):
            producer.on("jobs", broken_callback)
            producer.enqueue("jobs", [f"task {marker} {i}" for i in range(4)], unique=True)
            for client in (worker, victim):
                client.start_worker()
                client.start_work("jobs")
            taken = victim.dequeue("jobs")
            assert taken is not None
            pause_heartbeat(victim)
            wait_until(lambda: victim.worker_id not in producer.get_workers())  # reaped: a warning
            process = worker.dequeue("jobs")
            assert process is not None
            worker.fail_process(process.id, "boom", max_attempts=2)
            assert flows.drive(flows.heartbeat(victim._session), victim._runner.run) is False  # an error log
            server.restart()  # the listeners and heartbeats log their reconnects
            wait_until(lambda: producer.count_queue("jobs") >= 1)
            worker.finish_process(worker.dequeue("jobs").id)  # type: ignore[union-attr]
            run_a_runtime_worker(producer, f"{'x' * 60} {marker}")
        with (
            Worqr(redis=url.replace(password, "wrong"), prefix="logs") as intruder,
            pytest.raises(RedisPermissionError),
        ):
            intruder.count_queue("jobs")
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert any(r.levelno >= logging.WARNING and r.name == "worqr" for r in caplog.records)
    assert any("handler failed" in r.getMessage() for r in caplog.records)  # the runtime's records are in
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        text = formatter.format(record) + " " + " ".join(map(str, vars(record).values()))  # extra fields too
        assert password not in text, text
        assert marker not in text, text


def run_a_runtime_worker(client: Worqr, payload: str) -> None:
    """A runtime worker whose handler fails the first attempt of ``payload`` (a warning with
    the task's preview in its extra fields) and finishes the second."""

    def handler(process: Process[str]) -> str:
        if process.attempt == 1:
            raise RuntimeError("handler failed")
        return "ok"

    client.enqueue("runtime", payload)
    with client.worker("runtime", handler, backoff=Backoff(base=0.01, jitter=0)) as runtime:
        wait_until(lambda: runtime.stats.processed == 1)
    assert runtime.stats.failed == 1


def test_runtime_logs_name_a_task_by_size_and_digest_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from worqr._runtime.stats import LOG_TASKS_VARIABLE, preview

    monkeypatch.delenv(LOG_TASKS_VARIABLE, raising=False)
    label = preview(b"card=4111")
    assert "4111" not in label and "9 bytes" in label
    monkeypatch.setenv(LOG_TASKS_VARIABLE, "1")
    assert "card=4111" in preview(b"card=4111")


def test_streams_work_with_exactly_the_documented_acls(users: Users) -> None:
    """A producer publishes and reads a stream; workers subscribe, take and acknowledge, and a
    peer's reap hands a dead worker's messages on: all under the documented ACLs."""
    producer_url, worker_url = users.role("producer", "producer"), users.role("worker", "worker")
    with (
        Worqr(redis=producer_url, prefix=users.prefix) as producer,
        Worqr(redis=worker_url, prefix=users.prefix, heartbeat_interval=0.1) as worker,
        Worqr(redis=worker_url, prefix=users.prefix, heartbeat_interval=0.1) as peer,
    ):
        worker.start_worker()
        peer.start_worker()
        held = worker.stream("events").subscribe("g", start="first", retain_until_acked=True)
        ids = producer.stream("events", max_len=10).publish_many(["a", "b"])
        assert [m.data for m in producer.stream("events").read()] == ["a", "b"]
        first = held.next(timeout=5)
        assert first is not None and first.ack() is True
        assert held.next(timeout=5) is not None
        rescuer = peer.stream("events").subscribe("g")
        pause_heartbeat(worker)
        users.admin.delete(RegistryKeys(users.prefix).heartbeat(worker.worker_id))
        assert peer.cleanup_workers() == [worker.worker_id]
        again = rescuer.next(timeout=5)
        assert again is not None and (again.id, again.deliveries) == (ids[1], 2)
        assert again.ack() is True
        assert producer.stream("events").length() == 0  # retained until acked, then dropped
        assert producer.stream("events").counters()["acked"] == 2
        assert [g.pending for g in producer.stream("events").groups()] == [0]


def test_channels_work_with_the_documented_worker_acl(users: Users) -> None:
    """Both ends of a channel, each a worker under the documented worker ACL: connect,
    messages both ways, and a disconnect notice (a channel is streams and leases, whose
    commands that ACL grants)."""
    worker_url = users.role("worker", "worker")
    with (
        Worqr(redis=worker_url, prefix=users.prefix, heartbeat_interval=0.1) as a,
        Worqr(redis=worker_url, prefix=users.prefix, heartbeat_interval=0.1) as b,
    ):
        a.start_worker()
        b.start_worker()
        server = a.channel("line").listen()
        client = b.channel("line").connect()
        client.send("up")
        server.send("down")
        assert [getattr(server.next(timeout=5), "type", None) for _ in range(2)] == ["remote:connect", "message"]
        assert [getattr(client.next(timeout=5), "type", None) for _ in range(2)] == ["remote:connect", "message"]
        client.disconnect()
        disconnect = server.next(timeout=5)
        assert isinstance(disconnect, ChannelNotice)
        assert (disconnect.type, disconnect.remote) == ("remote:disconnect", b.worker_id)
