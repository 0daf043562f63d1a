"""The protocol layer: what worqr says to Redis and what the replies mean, with no I/O.

- `keys`: every key and channel name; `models`: the values handed back; `codec`: tasks
  as bytes; `checks`: every check of a caller's argument; `session`: one client's names,
  limits and worker state;
- `scripts`: the Lua scripts of ``worqr/lua`` (includes expanded, SHA1 computed);
  `ops`: each Redis operation as a `Call` (script, keys, arguments, how to read the reply);
- `flows`: every operation as a generator of calls, by subject, and the drivers that run
  them; `events`: the pub/sub wire format; `supervision`: the heartbeat and reap schedule.

May import: the standard library (but not ``asyncio``, ``threading``, ``socket`` or
``select``), ``typing_extensions`` and ``worqr.errors``. Never ``redis``, nor ``worqr._io``,
``worqr._runtime`` or the faces: they build on this layer (``tests/test_layers.py`` checks).
"""
