"""worqr's metrics (worqr/metrics) against a real server: the Prometheus text parses with
``prometheus_client.parser`` and its values equal the command line's; ``worqr metrics``
serves it over HTTP and stops on SIGTERM; a scrape's commands do not grow with the tasks;
a failed read is ``worqr_up 0``; the OpenTelemetry instruments give the same values."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import redis
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli_helpers import spawn_worqr
from tests.helpers import pause_heartbeat
from tests.runtime_helpers import FAST, LONG
from worqr import Worqr
from worqr.cli import main
from worqr.metrics.otel import register_instruments
from worqr.metrics.prometheus import WorqrCollector
from worqr.testing import RedisServer

MakeWorqr = Callable[..., Worqr]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text, by (sample name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: Worqr) -> Samples:
    registry = CollectorRegistry()
    registry.register(WorqrCollector(client))
    return parse(generate_latest(registry).decode())


def cli_json(redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main(["--redis", redis_url, "--prefix", prefix, "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def expected(queues: list[dict[str, Any]], workers: list[dict[str, Any]], streams: list[dict[str, Any]]) -> Samples:
    """What the metrics must say, from ``worqr queues --json``, ``worqr workers --json`` and
    ``worqr streams --json``."""
    want: Samples = {("worqr_up", frozenset()): 1.0}
    states = {"queued": "queued", "delayed": "delayed", "in_flight": "in_flight", "dead": "dead_letters"}
    for row in queues:
        q = ("queue", row["name"])
        for state, field in states.items():
            want["worqr_queue_tasks", frozenset({q, ("state", state)})] = row[field]
        for outcome, count in row["counters"].items():
            want["worqr_tasks_total", frozenset({q, ("outcome", outcome)})] = count
        want["worqr_workers", frozenset({q})] = row["workers"]
        want["worqr_queue_paused", frozenset({q})] = 1.0 if row["paused"] else 0.0
    for state in ("alive", "overdue", "reaping", "ended"):
        want["worqr_worker_states", frozenset({("state", state)})] = sum(w["state"] == state for w in workers)
    for row in streams:
        name = ("stream", row["name"])
        want["worqr_stream_messages", frozenset({name})] = row["length"]
        want["worqr_stream_dead_letters", frozenset({name})] = row["dead"]
        for event, count in row["counters"].items():
            want["worqr_stream_events_total", frozenset({name, ("event", event)})] = count
        for group in row["groups"]:
            labels = frozenset({name, ("group", group["name"])})
            want["worqr_stream_group_pending", labels] = group["pending"]
            want["worqr_stream_group_consumers", labels] = group["consumers"]
            if group["lag"] is not None:
                want["worqr_stream_group_lag", labels] = group["lag"]
    return want


@pytest.fixture
def busy(make_worqr: MakeWorqr) -> tuple[Worqr, Worqr]:
    """A producer and a worker with every kind of count and counter non-zero somewhere."""
    producer, worker = make_worqr(**FAST), make_worqr(**FAST)
    worker.start_worker()
    producer.enqueue("mail", ["a", "b", "c", "d"])
    producer.enqueue("mail", ["later"], delay=3600)
    producer.enqueue("images", ["i1", "i2"])
    worker.start_work("mail")
    worker.start_work("images")
    for outcome in ("finish", "fail", "hold"):
        process = worker.dequeue("mail")
        assert process is not None
        if outcome == "finish":
            worker.finish_process(process.id, None)
        elif outcome == "fail":
            worker.fail_process(process.id, ValueError("bad address"), max_attempts=1)
    producer.pause_queue("images")
    events = worker.stream("events").subscribe("audit", start="first", prefetch=1)
    producer.stream("events").publish_many(["e1", "e2", "e3"])
    taken = [events.next(timeout=LONG), events.next(timeout=LONG)]
    assert taken[0] is not None and taken[0].ack()
    orders = worker.stream("orders", ordered=True, partitions=2).subscribe("billing", start="first", prefetch=1)
    producer.stream("orders", ordered=True, partitions=2).publish_many(["o1", "o2"], key="k")
    assert orders.next(timeout=LONG) is not None
    return producer, worker


def test_the_prometheus_text_parses_and_equals_the_command_line(
    redis_url: str, worqr_prefix: str, busy: tuple[Worqr, Worqr], capsys: pytest.CaptureFixture[str]
) -> None:
    producer, worker = busy
    pause_heartbeat(worker)  # nothing changes between the reads compared
    got = scrape(producer)
    want = expected(
        cli_json(redis_url, worqr_prefix, capsys, "queues"),
        cli_json(redis_url, worqr_prefix, capsys, "workers"),
        cli_json(redis_url, worqr_prefix, capsys, "streams"),
    )
    assert got == want
    events, audit = frozenset({("stream", "events")}), frozenset({("stream", "events"), ("group", "audit")})
    assert got["worqr_stream_messages", events] == 3
    assert got["worqr_stream_group_pending", audit] == 1 and got["worqr_stream_group_lag", audit] == 1
    assert got["worqr_stream_events_total", events | {("event", "acked")}] == 1
    orders = frozenset({("stream", "orders"), ("group", "billing")})
    assert got["worqr_stream_group_pending", orders] == 1  # an ordered stream, summed over its partitions
    mail = frozenset({("queue", "mail")})
    assert got["worqr_queue_tasks", mail | {("state", "queued")}] == 1  # d (a finished, b failed, c held)
    assert got["worqr_queue_tasks", mail | {("state", "in_flight")}] == 1
    assert got["worqr_tasks_total", mail | {("outcome", "dead_lettered")}] == 1
    assert got["worqr_queue_paused", frozenset({("queue", "images")})] == 1


def test_worqr_metrics_serves_http_and_stops_on_sigterm(
    redis_url: str,
    worqr_prefix: str,
    busy: tuple[Worqr, Worqr],
    worqr_processes: list[subprocess.Popen[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, worker = busy
    pause_heartbeat(worker)
    server = spawn_worqr(
        worqr_processes, "metrics", "--port", "0", "--json", "--redis", redis_url, "--prefix", worqr_prefix
    )
    assert server.stdout is not None
    url = json.loads(server.stdout.readline())["metrics"]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
    with urllib.request.urlopen(url, timeout=LONG) as response:  # noqa: S310 (a loopback URL it printed)
        assert response.headers["Content-Type"].startswith("text/plain")
        got = parse(response.read().decode())
    want = expected(
        cli_json(redis_url, worqr_prefix, capsys, "queues"),
        cli_json(redis_url, worqr_prefix, capsys, "workers"),
        cli_json(redis_url, worqr_prefix, capsys, "streams"),
    )
    assert got == want
    server.send_signal(signal.SIGTERM)
    assert server.wait(LONG) == 0


def test_a_bad_port_is_a_usage_error(redis_url: str, worqr_prefix: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:  # a usage error: exit 2, argparse's message
        main(["--redis", redis_url, "--prefix", worqr_prefix, "metrics", "--port", "70000"])
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert "argument --port: must be a port from 0 (any free port) to 65535, got '70000'" in err


def test_without_prometheus_client_the_command_says_which_extra_to_install(redis_url: str, tmp_path: Any) -> None:
    """A real import failure: prometheus_client made unimportable in a fresh interpreter."""
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['prometheus_client'] = None\n")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from worqr.cli import main; sys.exit(main(sys.argv[1:]))",
            "--redis",
            redis_url,
            "metrics",
        ],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=LONG,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("worqr: error: worqr metrics needs prometheus-client")
    assert "pip install 'worqr[metrics]'" in done.stderr
    assert done.stderr.count("\n") == 1


def _commands(raw: redis.Redis) -> int:
    """Commands the server has run, all kinds but INFO (which this count itself sends)."""
    stats: dict[str, dict[str, int]] = raw.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")


def test_a_scrape_runs_the_same_commands_whatever_the_number_of_tasks(
    busy: tuple[Worqr, Worqr], raw: redis.Redis
) -> None:
    producer, worker = busy
    pause_heartbeat(worker)  # no heartbeat commands between the counts
    collector = WorqrCollector(producer)

    def cost() -> int:
        before = _commands(raw)
        list(collector.collect())
        return _commands(raw) - before

    few = cost()
    producer.enqueue("mail", [f"t{i}" for i in range(5000)])
    producer.enqueue("mail", [f"d{i}" for i in range(1000)], delay=3600)
    assert cost() == few


def test_a_failed_read_is_worqr_up_0_logged_and_the_scrape_still_answers(
    make_worqr: MakeWorqr, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = make_worqr(redis="redis://127.0.0.1:1/0", **FAST)
    assert scrape(unreachable) == {("worqr_up", frozenset()): 0.0}
    assert any("worqr metrics: reading Redis failed" in r.getMessage() for r in caplog.records)


def test_the_opentelemetry_instruments_give_the_same_values(
    redis_url: str, worqr_prefix: str, busy: tuple[Worqr, Worqr], capsys: pytest.CaptureFixture[str]
) -> None:
    producer, worker = busy
    pause_heartbeat(worker)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    register_instruments(provider.get_meter("test"), producer)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    names = {
        "worqr.queue.tasks": "worqr_queue_tasks",
        "worqr.tasks": "worqr_tasks_total",
        "worqr.workers": "worqr_workers",
    }
    names |= {"worqr.queue.paused": "worqr_queue_paused", "worqr.worker.states": "worqr_worker_states"}
    names |= {
        "worqr.stream.messages": "worqr_stream_messages",
        "worqr.stream.dead_letters": "worqr_stream_dead_letters",
        "worqr.stream.events": "worqr_stream_events_total",
        "worqr.stream.group.pending": "worqr_stream_group_pending",
        "worqr.stream.group.lag": "worqr_stream_group_lag",
        "worqr.stream.group.consumers": "worqr_stream_group_consumers",
    }
    got: Samples = {("worqr_up", frozenset()): 1.0}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attributes = frozenset((k, str(v)) for k, v in (point.attributes or {}).items())
                    got[names[metric.name], attributes] = point.value  # type: ignore[union-attr]
    want = expected(
        cli_json(redis_url, worqr_prefix, capsys, "queues"),
        cli_json(redis_url, worqr_prefix, capsys, "workers"),
        cli_json(redis_url, worqr_prefix, capsys, "streams"),
    )
    assert got == want


def test_register_instruments_refuses_a_negative_max_age(make_worqr: MakeWorqr) -> None:
    provider = MeterProvider()
    with pytest.raises(ValueError, match="max_age must be at least 0 seconds, got -1"):
        register_instruments(provider.get_meter("test"), make_worqr(), max_age=-1)
    provider.shutdown()


def test_worqr_metrics_says_on_stderr_when_redis_goes_away_and_reports_worqr_up_0(
    worqr_prefix: str, worqr_processes: list[subprocess.Popen[str]]
) -> None:
    with RedisServer() as server:
        metrics = spawn_worqr(
            worqr_processes, "metrics", "--port", "0", "--json", "--redis", server.url, "--prefix", worqr_prefix
        )
        assert metrics.stdout is not None and metrics.stderr is not None
        url = json.loads(metrics.stdout.readline())["metrics"]
        with urllib.request.urlopen(url, timeout=LONG) as response:  # noqa: S310 (a loopback URL it printed)
            assert parse(response.read().decode())["worqr_up", frozenset()] == 1
    with urllib.request.urlopen(url, timeout=LONG) as response:  # noqa: S310
        assert parse(response.read().decode())["worqr_up", frozenset()] == 0
    line = metrics.stderr.readline()
    assert line.startswith("worqr: WARNING worqr metrics: reading Redis failed: cannot reach Redis at"), line
    metrics.send_signal(signal.SIGTERM)
    assert metrics.wait(LONG) == 0
