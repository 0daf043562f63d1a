"""worqr's metrics as OpenTelemetry observable instruments (the ``otel`` extra, the
opentelemetry-api package): for applications that export with OTel."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from worqr import Worqr
from worqr.metrics.families import FAMILIES, Family, families


class _Reading:
    """One read of Redis shared by the instruments of one collection: a read is reused for
    ``max_age`` seconds, so a collection, which calls every callback in turn, reads once."""

    def __init__(self, client: Worqr, queues: list[str] | None, max_age: float) -> None:
        self._client, self._queues, self._max_age = client, queues, max_age
        self._lock = threading.Lock()
        self._at = -float("inf")
        self._families: dict[str, Family] = {}

    def family(self, name: str) -> Family:
        with self._lock:
            if time.monotonic() - self._at > self._max_age:
                read = families(
                    self._client.inspect_queues(self._queues),
                    self._client.inspect_workers(),
                    self._client.inspect_streams(),
                )
                self._families = {f.name: f for f in read}
                self._at = time.monotonic()
            return self._families[name]


def register_instruments(meter: Meter, client: Worqr, *, queues: list[str] | None = None, max_age: float = 1.0) -> None:
    """Create worqr's observable instruments on ``meter``, read from ``client`` when the SDK
    collects: ``worqr.queue.tasks`` (gauge; queue, state), ``worqr.tasks`` (counter;
    queue, outcome), ``worqr.workers`` (gauge; queue), ``worqr.queue.paused`` (gauge;
    queue), ``worqr.worker.states`` (gauge; state), and the streams' ``worqr.stream.*``
    (messages, dead_letters, events, group.pending, group.lag, group.consumers). One read of Redis serves every
    instrument of a collection (reused for ``max_age`` seconds). A failed read raises in
    the callback, which the SDK logs; that collection then lacks worqr's values."""
    if max_age < 0:
        msg = f"max_age must be at least 0 seconds, got {max_age!r}"
        raise ValueError(msg)
    reading = _Reading(client, None if queues is None else list(queues), max_age)
    for family in FAMILIES:
        callback = _callback(reading, family.name)
        if family.kind == "counter":
            meter.create_observable_counter(family.otel_name, callbacks=[callback], description=family.help)
        else:
            meter.create_observable_gauge(family.otel_name, callbacks=[callback], description=family.help)


def _callback(reading: _Reading, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        del options
        family = reading.family(name)
        return [Observation(value, dict(zip(family.labels, labels, strict=True))) for labels, value in family.samples]

    return observe
