"""Operations: what people on call ask of a fleet, from Redis alone (no live worker is
asked anything, so a dead one shows as reaped rather than timing out).

Layers, as elsewhere: `views` (the typed answers, parsed from replies) and `reads` (the
plain read commands) and `flows` (which reads, in how many round trips) are pure; the
faces (``_async/face.py`` and its generated twin ``_sync/face.py``) give the clients
``inspect_queues``, ``inspect_workers`` and ``inspect_processes``; ``worqr.cli`` is the
command line over them. Every read of a queue is a bounded number of round trips, whatever
the number of its tasks.
"""
