"""The dashboard's ASGI app: two pages (the overview and a queue's page) that poll a JSON
API, and the actions of people on call behind ``allow_actions``, a per-app token and a
same-origin check. Reads go through the public `AsyncWorqr` only."""

from __future__ import annotations

import html
import json
import secrets
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar, cast

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from worqr import AsyncWorqr, PartialReadError, WorqrError
from worqr.operations.documents import (
    dead_letter_document,
    plain,
    queue_document,
    task_fields,
    unknown_queue,
    worker_document,
)
from worqr.operations.views import WorkerInfo
from worqr.web.rates import RateHistory

T = TypeVar("T")
STATIC = Path(__file__).parent / "static"
#: The most dead letters a queue's page lists (the count is always exact).
DEAD_LETTERS_SHOWN = 100
ACTIONS = ("pause", "resume", "requeue", "purge", "reap")
#: Sent with every page and answer: no framing, no sniffing, scripts and styles only from here.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def worker_label(info: WorkerInfo) -> str:
    """What the dashboard shows as a worker's state: ``reaped`` for a worker whose heartbeat
    expired and a peer reaped it, ``left`` for one declared dead while alive (a clean leave,
    or a forced reap), else its state (alive, overdue, reaping)."""
    if info.state == "ended":
        return "reaped" if info.ended_by == "expired" else "left"
    return info.state


def create_app(
    client: AsyncWorqr, *, allow_actions: bool = False, poll_interval: float = 1.0, show_tasks: bool = False
) -> Starlette:
    """The dashboard over ``client`` (an `AsyncWorqr`; the app does not close it). Without
    ``allow_actions`` it only reads. ``poll_interval`` is how often the pages refresh (s);
    tasks are cut to a 40-character preview unless ``show_tasks``."""
    _check_client(client)
    if not 0.2 <= poll_interval <= 60:  # noqa: PLR2004
        msg = f"poll_interval must be from 0.2 to 60 seconds, got {poll_interval!r}"
        raise ValueError(msg)
    dashboard = _Dashboard(client, allow_actions, poll_interval, show_tasks)
    routes = [
        Route("/", dashboard.page("index.html")),
        Route("/queue", dashboard.page("queue.html")),
        Route("/api/overview", dashboard.overview),
        Route("/api/queue", dashboard.queue),
        Route("/api/actions/{action}", dashboard.act, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)


def _check_client(client: object) -> None:
    if not isinstance(client, AsyncWorqr):
        msg = f"the dashboard needs an AsyncWorqr (it serves from an event loop), got {type(client).__name__}"
        raise TypeError(msg)


class _Dashboard:
    def __init__(self, client: AsyncWorqr, allow_actions: bool, poll_interval: float, show_tasks: bool) -> None:
        self.client = client
        self.allow_actions = allow_actions
        self.poll_interval = poll_interval
        self.show_tasks = show_tasks
        self.token = secrets.token_urlsafe(32)
        self.history = RateHistory()

    # Pages ----------------------------------------------------------------------------------

    def page(self, name: str) -> Any:
        text = (STATIC / name).read_text(encoding="utf-8")

        async def endpoint(request: Request) -> Response:
            root = html.escape(request.scope.get("root_path", "").rstrip("/"), quote=True)
            body = text.replace("__ROOT__", root).replace("__POLL_MS__", str(int(self.poll_interval * 1000)))
            return Response(body, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)

        return endpoint

    # Reads ----------------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        del request
        missing: list[str] = []
        try:
            queues = await _partly(self.client.inspect_queues(), missing)
            workers = await _partly(self.client.inspect_workers(), missing)
        except WorqrError as exc:
            return _json({"error": str(exc)}, 503)
        self.history.add(time.time(), {q.name: q.counters.as_dict() for q in queues})
        document: dict[str, Any] = {
            "queues": [{**queue_document(q), "rates": self.history.rates(q.name)} for q in queues],
            "workers": [{**worker_document(w), "label": worker_label(w)} for w in workers],
        }
        if missing:
            nodes = ", ".join(sorted(set(missing)))
            document |= {"partial": True, "unreachable": sorted(set(missing))}
            document["error"] = f"could not reach {nodes}: the queues and tasks there are not shown"
        return self._answer(document)

    async def queue(self, request: Request) -> Response:
        name = request.query_params.get("name", "")
        try:
            await self._known(name)
            (info,) = await self.client.inspect_queues([name])
            peek = await self.client.peek_tasks(name, 20)
            letters = await self.client.get_dead_letters(name)
        except _Refused as refused:
            return _json({"error": str(refused)}, refused.status)
        except WorqrError as exc:
            return _json({"error": str(exc)}, 503)
        letters.sort(key=lambda letter: letter.failed_at)
        self.history.add(time.time(), {name: info.counters.as_dict()}, every_queue=False)
        document = {
            "queue": queue_document(info),
            "rates": self.history.rates(name),
            "waiting": [task_fields(task, full=self.show_tasks) for task in peek.waiting],
            "delayed": [{**task_fields(task, full=self.show_tasks), "due_at": due} for task, due in peek.delayed],
            "dead_letters": [dead_letter_document(d, full=self.show_tasks) for d in letters[:DEAD_LETTERS_SHOWN]],
        }
        return self._answer(document)

    def _answer(self, document: dict[str, Any]) -> Response:
        """A page's data, with whether actions are on and, if so, the token they need
        (readable by this origin's scripts only)."""
        document["actions"] = self.allow_actions
        if self.allow_actions:
            document["token"] = self.token
        return _json(document)

    async def _known(self, queue: str) -> None:
        if not queue:
            raise _Refused(400, "name the queue: /api/queue?name=QUEUE")
        msg = unknown_queue([queue], await self.client.get_queues(), self.client.prefix)
        if msg is not None:
            raise _Refused(404, msg)

    # Actions --------------------------------------------------------------------------------

    async def act(self, request: Request) -> Response:
        try:
            body = await self._checked(request)
            answer = await self._do(request.path_params["action"], body)
        except _Refused as refused:
            return _json({"error": str(refused)}, refused.status)
        except WorqrError as exc:
            return _json({"error": str(exc)}, 503)
        return _json(answer)

    async def _checked(self, request: Request) -> dict[str, Any]:
        """The action's JSON body, once the request is shown to be allowed and same-origin."""
        if not self.allow_actions:
            raise _Refused(403, "actions are off: start the dashboard with --allow-actions (allow_actions=True)")
        if request.path_params["action"] not in ACTIONS:
            raise _Refused(404, f"no action {request.path_params['action']!r}; actions: {', '.join(ACTIONS)}")
        if not secrets.compare_digest(request.headers.get("x-worqr-token", ""), self.token):
            raise _Refused(403, "missing or wrong X-Worqr-Token: actions come from the dashboard's own page")
        origin = request.headers.get("origin")
        expected = f"{request.url.scheme}://{request.url.netloc}"
        if (origin is not None and origin != expected) or request.headers.get("sec-fetch-site") not in (
            None,
            "same-origin",
        ):
            raise _Refused(403, f"cross-site request refused (origin {origin!r}, expected {expected!r})")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise _Refused(415, "send the action's arguments as application/json")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise _Refused(400, f"the body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise _Refused(400, 'the body must be a JSON object, like {"queue": "mail"}')
        return body

    async def _do(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        if action == "reap":
            worker = body.get("worker")
            if not isinstance(worker, str) or not worker:
                raise _Refused(400, 'name the worker: {"worker": "<id>"}')
            if worker not in {w.id for w in await self.client.inspect_workers()}:
                raise _Refused(404, f"no worker {worker!r}")
            await self.client.fail_worker(worker)
            return {"reaped": [worker]}
        queue = body.get("queue")
        queue = queue if isinstance(queue, str) else ""
        await self._known(queue)
        if action == "pause":
            return {"queue": queue, "paused": True, "was_paused": await self.client.pause_queue(queue)}
        if action == "resume":
            return {"queue": queue, "paused": False, "was_paused": await self.client.resume_queue(queue)}
        ids = body.get("ids")
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids):
            raise _Refused(400, "ids must be a non-empty list of dead letter ids, or left out for all of them")
        if action == "requeue":
            return {"requeued": await self.client.requeue_dead_letters(queue, ids)}
        return {"purged": await self.client.purge_dead_letters(queue, ids)}


async def _partly(read: Awaitable[T], missing: list[str]) -> T:
    """What ``read`` gives; on a cluster with nodes down, what the other nodes gave (the
    missing nodes go to ``missing``)."""
    try:
        return await read
    except PartialReadError as exc:
        missing.extend(exc.unreachable)
        return cast("T", exc.value)


def _json(document: Any, status: int = 200) -> Response:
    return JSONResponse(plain(document), status_code=status, headers=SECURITY_HEADERS)
