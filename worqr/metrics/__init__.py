"""Metrics: a fleet's counts and exact counters as Prometheus metrics and OpenTelemetry
instruments, read from Redis alone (docs/operations.md).

Layers, as elsewhere: `families` is pure (what to report, from the typed answers of
`worqr.operations`); `prometheus` (a collector for prometheus-client, the ``metrics``
extra) and `otel` (observable instruments for opentelemetry-api, the ``otel`` extra) are
thin faces over it; ``worqr metrics`` serves the collector over HTTP. A scrape costs a
fixed number of round trips (the queues' reads and the workers' reads of
`worqr.operations`), whatever the number of tasks.

    from prometheus_client import REGISTRY
    from worqr.metrics.prometheus import WorqrCollector

    REGISTRY.register(WorqrCollector(Worqr(redis=url)))
"""
