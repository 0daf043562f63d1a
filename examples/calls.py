"""Calls: register functions, serve them on a worker, call them from a producer and get their
results back, typed, with their status, progress and cancel.

    python examples/calls.py

One registry (`Functions`) is imported by both sides. The worker serves it (`Worqr.serve`);
the producer calls a function (`Worqr.call`) and gets a `Call` whose ``result()`` is the
function's typed return value (mypy checks the arguments and the result: see the
``assert_type`` lines). A failing call raises `CallFailedError` once its attempts are used up;
a queued call can be cancelled; a new client (a restarted producer) finds a call by its id.
Uses the server at WORQR_REDIS_URL if set, else starts a private one.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import date

from typing_extensions import assert_type

from worqr import CallCancelledError, CallFailedError, Functions, Worqr, current_call
from worqr.testing import server_url

functions = Functions()


@dataclass(frozen=True)
class Quote:
    sku: str
    quantity: int
    total_cents: int
    valid_until: date


PRICES = {"tea": 450, "cake": 320}


@functions.function(queue="pricing", max_attempts=2, timeout=10.0)
def quote(sku: str, quantity: int, *, day: date) -> Quote:
    """Runs on the worker; its arguments and result travel as JSON, rebuilt from the annotations."""
    call = current_call()
    call.report_progress({"priced": sku})
    if sku not in PRICES:
        msg = f"no price for {sku!r}"
        raise LookupError(msg)
    return Quote(sku, quantity, PRICES[sku] * quantity, day)


def main() -> None:
    prefix = f"example-{uuid.uuid4().hex[:8]}"
    with server_url() as url, Worqr(redis=url, prefix=prefix) as producer, Worqr(redis=url, prefix=prefix) as worker:
        # A queued call, cancelled before any worker runs it.
        later = producer.call(quote, "tea", 1, day=date(2027, 1, 1))
        if not later.cancel():
            raise SystemExit("the queued call could not be cancelled")
        try:
            later.result()
        except CallCancelledError:
            cancelled = later.status().state

        serving = worker.serve(functions, concurrency=4)
        runner = threading.Thread(target=serving.run)  # serving.start() would do the same
        runner.start()
        try:
            call = producer.call(quote, "cake", 3, day=date(2027, 1, 31))
            result = assert_type(call.result(timeout=10), Quote)
            status = call.status()

            failing = producer.call(quote, "coffee", 1, day=date(2027, 1, 31))
            try:
                failing.result(timeout=10)
            except CallFailedError as error:
                failure = f"{error.error_type} after {error.attempts} attempts"

            with Worqr(redis=url, prefix=prefix) as restarted:  # another process, knowing only the id
                found = restarted.get_call(call.id).result(timeout=10)
        finally:
            serving.request_stop()
            runner.join()

    print(
        f"calls: quote(cake, 3) = {result.total_cents} cents ({status.state}, attempt {status.attempts}); "
        f"coffee failed: {failure}; the queued call was {cancelled}; "
        f"found by id: {found['total_cents']} cents"
    )


if __name__ == "__main__":
    main()
