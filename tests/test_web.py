"""The dashboard's app (worqr/web) over a real server, through its HTTP API: the JSON
equals the command line's, a queue's page peeks its tasks, unknown queues are 404, and
every action is refused unless allowed, with the page's token, from the same origin, as
JSON; pages carry a strict content security policy and work mounted under a path. The
browser tests are in tests/test_dashboard_browser.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.runtime_helpers import FAST
from worqr import AsyncWorqr, InvalidArgumentError, Worqr
from worqr.cli import main
from worqr.web import create_app
from worqr.web.rates import RateHistory

MakeWorqr = Callable[..., Worqr]
HOST = "http://testserver"


@pytest.fixture
def worker(make_worqr: MakeWorqr) -> Worqr:
    """A worker with a queue ``mail``: two waiting, one delayed, one dead letter."""
    client = make_worqr(**FAST)
    client.start_worker()
    client.enqueue("mail", ["a", "b", "c"])
    client.enqueue("mail", ["later"], delay=3600)
    client.start_work("mail")
    failing = client.dequeue("mail")
    assert failing is not None
    client.fail_process(failing.id, ValueError("bad address"), max_attempts=1)
    return client


@pytest.fixture
async def aclient(redis_url: str, worqr_prefix: str) -> AsyncIterator[AsyncWorqr]:
    async with AsyncWorqr(redis=redis_url, prefix=worqr_prefix) as client:
        yield client


def http(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST)


def cli_json(redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main(["--redis", redis_url, "--prefix", prefix, "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


async def test_the_overview_gives_the_command_lines_documents_and_the_worker_labels(
    redis_url: str, worqr_prefix: str, worker: Worqr, aclient: AsyncWorqr, capsys: pytest.CaptureFixture[str]
) -> None:
    async with http(create_app(aclient)) as web:
        answer = await web.get("/api/overview")
    assert answer.status_code == 200
    doc = answer.json()
    queues = cli_json(redis_url, worqr_prefix, capsys, "queues")
    assert [{k: v for k, v in q.items() if k != "rates"} for q in doc["queues"]] == queues
    (row,) = doc["workers"]
    assert (row["id"], row["label"], row["state"]) == (worker.worker_id, "alive", "alive")
    assert doc["actions"] is False
    assert "token" not in doc  # no token for a dashboard that only reads


async def test_a_queues_page_peeks_waiting_and_delayed_tasks_and_lists_dead_letters(
    worker: Worqr, aclient: AsyncWorqr
) -> None:
    async with http(create_app(aclient)) as web:
        doc = (await web.get("/api/queue", params={"name": "mail"})).json()
    assert doc["queue"]["queued"] == 2
    assert [t["task"] for t in doc["waiting"]] == ["b", "c"]
    assert [t["task"] for t in doc["delayed"]] == ["later"]
    assert doc["delayed"][0]["due_at"].endswith("+00:00")
    (letter,) = doc["dead_letters"]
    assert (letter["task"], letter["error_type"], letter["error"]) == ("a", "ValueError", "bad address")


async def test_an_unknown_or_missing_queue_is_a_clear_error(worker: Worqr, aclient: AsyncWorqr) -> None:
    del worker
    async with http(create_app(aclient)) as web:
        unknown = await web.get("/api/queue", params={"name": "nope"})
        missing = await web.get("/api/queue")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == f"no queue named 'nope' under prefix {aclient.prefix!r} (known: 'mail')"
    assert (missing.status_code, missing.json()["error"]) == (400, "name the queue: /api/queue?name=QUEUE")


async def _post(web: httpx.AsyncClient, action: str, body: object, token: str | None, **headers: str) -> httpx.Response:
    sent = {"Content-Type": "application/json", **headers}
    if token is not None:
        sent["X-Worqr-Token"] = token
    return await web.post(f"/api/actions/{action}", content=json.dumps(body), headers=sent)


async def test_actions_are_refused_unless_allowed(worker: Worqr, aclient: AsyncWorqr) -> None:
    async with http(create_app(aclient)) as web:
        refused = await _post(web, "requeue", {"queue": "mail"}, "anything")
    assert refused.status_code == 403
    assert "start the dashboard with --allow-actions" in refused.json()["error"]
    assert worker.count_dead_letters("mail") == 1


async def test_an_action_needs_the_token_the_same_origin_and_json(worker: Worqr, aclient: AsyncWorqr) -> None:
    async with http(create_app(aclient, allow_actions=True)) as web:
        token = (await web.get("/api/overview")).json()["token"]
        cases = [
            (await _post(web, "requeue", {"queue": "mail"}, None), 403, "X-Worqr-Token"),
            (await _post(web, "requeue", {"queue": "mail"}, "wrong"), 403, "X-Worqr-Token"),
            (await _post(web, "requeue", {"queue": "mail"}, token, Origin="https://evil.example"), 403, "cross-site"),
            (await _post(web, "requeue", {"queue": "mail"}, token, **{"Sec-Fetch-Site": "cross-site"}), 403, "cross-site"),
            (await web.post("/api/actions/requeue", content="queue=mail", headers={
                "X-Worqr-Token": token, "Content-Type": "application/x-www-form-urlencoded"}), 415, "application/json"),
            (await _post(web, "requeue", {"queue": "nope"}, token), 404, "no queue named 'nope'"),
            (await _post(web, "requeue", {"queue": "mail", "ids": "x"}, token), 400, "ids must be"),
            (await _post(web, "explode", {}, token), 404, "no action 'explode'"),
            (await _post(web, "reap", {"worker": "nobody"}, token), 404, "no worker 'nobody'"),
        ]  # fmt: skip
        for answer, status, words in cases:
            assert answer.status_code == status, answer.text
            assert words in answer.json()["error"]
        assert worker.count_dead_letters("mail") == 1  # nothing refused changed anything
        done = await _post(web, "requeue", {"queue": "mail"}, token, Origin=HOST, **{"Sec-Fetch-Site": "same-origin"})
    assert (done.status_code, done.json()) == (200, {"requeued": 1})
    assert worker.count_dead_letters("mail") == 0
    assert worker.get_tasks("mail")[-1] == "a"


async def test_pause_resume_purge_and_reap_through_the_api(worker: Worqr, aclient: AsyncWorqr) -> None:
    async with http(create_app(aclient, allow_actions=True)) as web:
        token = (await web.get("/api/overview")).json()["token"]
        assert (await _post(web, "pause", {"queue": "mail"}, token)).json()["was_paused"] is False
        assert worker.inspect_queues(["mail"])[0].paused is True
        assert (await _post(web, "resume", {"queue": "mail"}, token)).json()["was_paused"] is True
        (letter,) = worker.get_dead_letters("mail")
        assert (await _post(web, "purge", {"queue": "mail", "ids": [letter.id]}, token)).json() == {"purged": 1}
        assert (await _post(web, "reap", {"worker": worker.worker_id}, token)).json() == {"reaped": [worker.worker_id]}
        (row,) = (await web.get("/api/overview")).json()["workers"]
    assert (row["state"], row["label"], row["ended_by"]) == ("ended", "left", "declared")


async def test_pages_have_a_strict_policy_and_work_mounted_under_a_path(worker: Worqr, aclient: AsyncWorqr) -> None:
    del worker
    app = Starlette(routes=[Mount("/ops/worqr", app=create_app(aclient, poll_interval=2.5))])
    async with http(app) as web:
        page = await web.get("/ops/worqr/")
        script = await web.get("/ops/worqr/static/dashboard.js")
        overview = await web.get("/ops/worqr/api/overview")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert '<meta name="worqr-root" content="/ops/worqr">' in page.text
    assert '<meta name="worqr-poll-ms" content="2500">' in page.text
    assert 'src="/ops/worqr/static/dashboard.js"' in page.text
    assert script.status_code == 200 and "textContent" in script.text
    assert overview.json()["queues"][0]["name"] == "mail"


def test_the_app_refuses_a_threaded_client_and_a_bad_poll_interval(make_worqr: MakeWorqr) -> None:
    with pytest.raises(TypeError, match="the dashboard needs an AsyncWorqr"):
        create_app(make_worqr())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"poll_interval must be from 0\.2 to 60 seconds, got 0"):
        create_app(AsyncWorqr(redis="redis://127.0.0.1:1/0"), poll_interval=0)


def test_peek_refuses_a_bad_limit(worker: Worqr) -> None:
    for limit in (0, 1001, True, 2.0):
        with pytest.raises(InvalidArgumentError, match="limit must be an int from 1 to 1000"):
            worker.peek_tasks("mail", limit)  # type: ignore[arg-type]
    assert worker.peek_tasks("mail", 1).waiting == [b"b"]


def test_rates_are_tasks_per_second_between_samples_kept_for_a_while() -> None:
    history = RateHistory(keep=10.0, every=2.0)
    assert history.add(100.0, {"mail": {"enqueued": 10, "finished": 0, "failed": 0}})
    assert not history.add(101.0, {"mail": {"enqueued": 99, "finished": 99, "failed": 0}})  # too soon
    assert history.add(102.0, {"mail": {"enqueued": 30, "finished": 8, "failed": 2}})
    assert history.rates("mail") == [{"at": 102.0, "enqueued": 10.0, "finished": 4.0, "failed": 1.0}]
    history.add(104.0, {"mail": {"enqueued": 0, "finished": 0, "failed": 0}})  # deleted: no negative rate
    assert history.rates("mail")[-1] == {"at": 104.0, "enqueued": 0.0, "finished": 0.0, "failed": 0.0}
    history.add(120.0, {"mail": {"enqueued": 0, "finished": 0, "failed": 0}})
    assert history.rates("mail") == []  # the older samples aged out
    history.add(122.0, {"other": {}}, every_queue=False)  # a read of one other queue
    assert len(history._samples["mail"]) == 1
    history.add(124.0, {})  # a read of every queue: mail is gone
    assert history.rates("mail") == []
    assert "mail" not in history._samples
