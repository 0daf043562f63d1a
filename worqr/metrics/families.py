"""What worqr reports as metrics, from the typed answers of `worqr.operations`: pure, shared
by the Prometheus collector and the OpenTelemetry instruments."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from worqr.operations.views import QueueInfo, WorkerInfo
from worqr.streams.messages import StreamInfo

Kind = Literal["gauge", "counter"]

#: The ``state`` label of ``worqr_queue_tasks``, with the field of `QueueInfo` it reads.
TASK_STATES = {"queued": "queued", "delayed": "delayed", "in_flight": "in_flight", "dead": "dead_letters"}

#: The ``state`` label of ``worqr_worker_states`` (`WorkerInfo.state`).
WORKER_STATES: tuple[str, ...] = ("alive", "overdue", "reaping", "ended")


@dataclass(frozen=True, slots=True)
class Family:
    """One metric: ``name`` as Prometheus shows it (a counter's without its ``_total``),
    ``otel_name`` as OpenTelemetry does, and its samples as (label values, value)."""

    name: str
    otel_name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    samples: tuple[tuple[tuple[str, ...], float], ...] = ()


def _family(name: str, otel_name: str, kind: Kind, help_text: str, labels: tuple[str, ...]) -> Family:
    return Family(name, otel_name, kind, help_text, labels)


#: Every family, without samples (what `describe` gives before any read).
FAMILIES = (
    _family(
        "worqr_queue_tasks",
        "worqr.queue.tasks",
        "gauge",
        "Tasks of a queue now, by state: queued (waiting), delayed (due later), in_flight, dead (dead letters).",
        ("queue", "state"),
    ),
    _family(
        "worqr_tasks",
        "worqr.tasks",
        "counter",
        "Tasks of a queue since it was created, by outcome; each counted in the script that made the change.",
        ("queue", "outcome"),
    ),
    _family("worqr_workers", "worqr.workers", "gauge", "Registered workers that work a queue.", ("queue",)),
    _family("worqr_queue_paused", "worqr.queue.paused", "gauge", "1 if the queue is paused, else 0.", ("queue",)),
    _family(
        "worqr_worker_states",
        "worqr.worker.states",
        "gauge",
        "Workers by state: alive, overdue (heartbeat expired, not reaped yet), reaping, ended (in the last day).",
        ("state",),
    ),
    _family("worqr_stream_messages", "worqr.stream.messages", "gauge", "Messages a stream keeps now.", ("stream",)),
    _family(
        "worqr_stream_dead_letters", "worqr.stream.dead_letters", "gauge", "A stream's dead letters now.", ("stream",)
    ),
    _family(
        "worqr_stream_events",
        "worqr.stream.events",
        "counter",
        "Messages of a stream since it was created, by event: published, delivered (first deliveries),"
        " redelivered (after a consumer died), acked, dead_lettered; each counted in the script that did it.",
        ("stream", "event"),
    ),
    _family(
        "worqr_stream_group_pending",
        "worqr.stream.group.pending",
        "gauge",
        "Messages of a stream delivered to a group and not acknowledged yet.",
        ("stream", "group"),
    ),
    _family(
        "worqr_stream_group_lag",
        "worqr.stream.group.lag",
        "gauge",
        "Messages of a stream not yet delivered to a group (absent when the server cannot tell).",
        ("stream", "group"),
    ),
    _family(
        "worqr_stream_group_consumers",
        "worqr.stream.group.consumers",
        "gauge",
        "Live consumers of a group of a stream.",
        ("stream", "group"),
    ),
)


def families(
    queues: Sequence[QueueInfo], workers: Sequence[WorkerInfo], streams: Sequence[StreamInfo] = ()
) -> list[Family]:
    """`FAMILIES` with the samples of these queues, workers and streams."""
    states = Counter[str](w.state for w in workers)
    samples: dict[str, list[tuple[tuple[str, ...], float]]] = {
        "worqr_queue_tasks": [
            ((q.name, state), float(getattr(q, attr))) for q in queues for state, attr in TASK_STATES.items()
        ],
        "worqr_tasks": [
            ((q.name, outcome), float(count)) for q in queues for outcome, count in q.counters.as_dict().items()
        ],
        "worqr_workers": [((q.name,), float(q.workers)) for q in queues],
        "worqr_queue_paused": [((q.name,), 1.0 if q.paused else 0.0) for q in queues],
        "worqr_worker_states": [((state,), float(states[state])) for state in WORKER_STATES],
        "worqr_stream_messages": [((s.name,), float(s.length)) for s in streams],
        "worqr_stream_dead_letters": [((s.name,), float(s.dead_letters)) for s in streams],
        "worqr_stream_events": [((s.name, event), float(n)) for s in streams for event, n in s.counters.items()],
        "worqr_stream_group_pending": [((s.name, g.name), float(g.pending)) for s in streams for g in s.groups],
        "worqr_stream_group_lag": [
            ((s.name, g.name), float(g.lag)) for s in streams for g in s.groups if g.lag is not None
        ],
        "worqr_stream_group_consumers": [((s.name, g.name), float(g.consumers)) for s in streams for g in s.groups],
    }
    return [Family(f.name, f.otel_name, f.kind, f.help, f.labels, tuple(samples[f.name])) for f in FAMILIES]
