"""A prometheus-client collector of worqr's metrics (the ``metrics`` extra), and the HTTP
server of ``worqr metrics``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from worqr import Worqr
from worqr.metrics.families import FAMILIES, Family, families

log = logging.getLogger("worqr")

_UP = "worqr_up"
_UP_HELP = "1 if the last read of Redis for these metrics succeeded, else 0 (then no other worqr metric is given)."


class WorqrCollector(Collector):
    """Reads ``client``'s queues, workers and streams on each scrape (a fixed number of round trips,
    whatever the number of tasks) and gives them as the metrics of `worqr.metrics.families`
    plus ``worqr_up``. Register it in any registry: ``REGISTRY.register(WorqrCollector(wq))``.
    ``queues`` limits it to those queues (default: every queue of the registry). A failed
    read gives ``worqr_up 0`` and is logged; the scrape itself does not fail."""

    def __init__(self, client: Worqr, queues: list[str] | None = None) -> None:
        self._client = client
        self._queues = None if queues is None else list(queues)

    def describe(self) -> Iterator[Metric]:
        """The metrics' names without reading Redis (registration stays offline)."""
        yield GaugeMetricFamily(_UP, _UP_HELP)
        for family in FAMILIES:
            yield _metric(family)

    def collect(self) -> Iterator[Metric]:
        try:
            read = families(
                self._client.inspect_queues(self._queues),
                self._client.inspect_workers(),
                self._client.inspect_streams(),
            )
        except Exception as exc:  # noqa: BLE001 (a scrape reports the failure as worqr_up 0)
            log.warning("worqr metrics: reading Redis failed: %s", exc)
            yield GaugeMetricFamily(_UP, _UP_HELP, value=0)
            return
        yield GaugeMetricFamily(_UP, _UP_HELP, value=1)
        for family in read:
            yield _metric(family)


def _metric(family: Family) -> Metric:
    kind = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
    metric = kind(family.name, family.help, labels=list(family.labels))
    for labels, value in family.samples:
        metric.add_metric(list(labels), value)
    return metric


def serve(client: Worqr, port: int, host: str = "127.0.0.1") -> tuple[str, int]:
    """Serve ``/metrics`` for ``client`` on ``host:port`` (port 0: a free one) in a daemon
    thread, in a registry of its own; returns the address bound."""
    registry = CollectorRegistry()
    registry.register(WorqrCollector(client))
    server, _ = start_http_server(port, addr=host, registry=registry)
    bound_host, bound_port = server.server_address[:2]
    return str(bound_host), int(bound_port)
