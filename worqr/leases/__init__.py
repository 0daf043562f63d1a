"""Leases with fencing tokens and leader election (docs/leases.md). The same layers as the
package:

- pure descriptions and flows: ``terms`` (the checks, and how long a term is valid on the
  holder's clock), ``ops`` and ``flows`` (each operation once); the scripts in ``lua/``
  and ``fence.lua``, the fragment a user's own script includes (`FENCE_LUA`);
- I/O: ``_async/leases.py`` (`AsyncLease`, `AsyncTerm`, and the client's keeper that
  renews every term it holds) and ``_async/leadership.py`` (`AsyncLeadership`), each with
  its generated twin in ``_sync`` (`Lease`, `Term`, `Leadership`);
- faces: ``_async/face.py`` (and its twin), the methods the clients take.

When peers reap a worker, the reap releases the leases that worker held (see
``worqr._protocol.flows.workers.reap``).
"""

from importlib import resources

#: The Lua fragment that refuses a stale fencing token in a script of your own: it defines
#: ``fence_current(holder_key, token)`` (see docs/leases.md, "Fencing your own writes").
FENCE_LUA: str = resources.files("worqr").joinpath("leases").joinpath("fence.lua").read_text(encoding="utf-8")
