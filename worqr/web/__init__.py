"""The dashboard (the ``web`` extra: Starlette and uvicorn): an ASGI app over an
`AsyncWorqr` that shows the queues, workers and dead letters from Redis alone, with live
updates, and, only when allowed, the actions of people on call (docs/operations.md).

    from worqr import AsyncWorqr
    from worqr.web import create_app

    app = create_app(AsyncWorqr(redis=url, prefix="myapp"))  # mount it anywhere

``worqr dashboard --port P [--allow-actions]`` serves it (on 127.0.0.1 unless told).
Layers: `rates` is pure (the counters' history and rates); `app` is the face over the
public client; ``static/`` holds the page and its script (no build step).
"""

from worqr.web.app import create_app

__all__ = ["create_app"]
