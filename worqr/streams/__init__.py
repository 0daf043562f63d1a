"""Ordered message streams with durable consumer groups (docs/streams.md). The same layers
as the package:

- pure descriptions and flows: ``messages`` (the checks, and the values a read gives),
  ``partitions`` (ordered streams: routing by key, ids), ``ops`` and ``flows`` (each
  operation once); the scripts in ``lua/``;
- I/O: ``_async/streams.py`` (`AsyncStream`) and ``_async/subscriptions.py``
  (`AsyncSubscription`, `AsyncMessage`), each with its generated twin in ``_sync``
  (`Stream`, `Subscription`, `Message`);
- faces: ``_async/face.py`` (and its twin), the method the clients take.

When peers reap a worker, the reap hands the messages it held in every group to the group's
live consumers (see ``worqr._protocol.flows.workers.release_streams``): redelivery follows
the death of a consumer, never the time a message took.
"""
