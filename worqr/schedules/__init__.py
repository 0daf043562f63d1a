"""Periodic schedules with no scheduler process (docs/schedules.md). The same layers as the
package:

- pure descriptions and flows: ``timing`` (the checks of cron, every, tz, overlap and
  catch_up, and the due times), ``records`` (`Schedule`, read from a schedule's record),
  ``ops`` and ``flows`` (each operation once); the scripts in ``lua/``;
- I/O: ``_async/ticker.py`` (the ticker each runtime worker runs for its queues), with its
  generated twin in ``_sync``;
- faces: ``_async/face.py`` (and its twin), the methods the clients take.
"""

from worqr.schedules.records import Schedule

__all__ = ["Schedule"]
