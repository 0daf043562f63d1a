"""The methods of schedules on the clients, one line each over the flows. This file gives
them to the asyncio client; its generated twin (``_sync/face.py``) to the threaded one."""

from __future__ import annotations

from worqr._io._async.core import AsyncCore
from worqr._protocol.checks import check_schedule_name
from worqr.schedules import flows
from worqr.schedules.ops import Template
from worqr.schedules.records import Schedule, schedule
from worqr.schedules.timing import CatchUp, Overlap, Rules


class AsyncSchedulesFace:
    """Periodic schedules, fired by the runtime workers of their queues (docs/schedules.md)."""

    _core: AsyncCore

    async def schedule(
        self,
        name: str,
        queue: str,
        task: str,
        *,
        cron: str | None = None,
        every: float | None = None,
        tz: str = "UTC",
        overlap: Overlap = "allow",
        catch_up: CatchUp = "latest",
    ) -> Schedule[str]:
        """Create or update (by ``name``) a schedule that enqueues ``task`` on ``queue`` at
        each due time: ``cron`` (five fields, read in the time zone ``tz``; the ``cron``
        extra) or ``every`` seconds, exactly one of them. The runtime workers serving the
        queue fire it, each due time once. ``overlap="skip"`` skips a run while the previous
        one is still queued or running; ``catch_up="latest"`` makes one run for the due times
        that passed while no worker ran, ``"none"`` none. Everything is checked before
        anything is written; an update that keeps the due times keeps the next one."""
        rules = Rules.check(cron=cron, every=every, tz=tz, overlap=overlap, catch_up=catch_up)
        return await self._put_schedule(name, queue, rules, flows.task_template(self._core.session, queue, task))

    async def schedule_call(
        self,
        name: str,
        fn: object,
        /,
        *args: object,
        cron: str | None = None,
        every: float | None = None,
        tz: str = "UTC",
        overlap: Overlap = "allow",
        catch_up: CatchUp = "latest",
        **kwargs: object,
    ) -> Schedule[str]:
        """`schedule` for a call of ``fn`` (registered with ``@functions.function``) with
        these arguments, checked against its signature now: each run is a call with its own
        id and record (``Schedule.last_call``; `get_call` follows it), on the function's
        queue, with its options. ``overlap="skip"`` skips while the last call has not ended.
        (The arguments are checked when this runs, not by mypy; ``cron``, ``every``, ``tz``,
        ``overlap`` and ``catch_up`` are this method's: pass a parameter of ``fn`` with one
        of those names positionally.)"""
        rules = Rules.check(cron=cron, every=every, tz=tz, overlap=overlap, catch_up=catch_up)
        queue, template = flows.call_template(self._core.session, fn, args, kwargs)
        return await self._put_schedule(name, queue, rules, template)

    async def _put_schedule(self, name: str, queue: str, rules: Rules, template: Template) -> Schedule[str]:
        stored = await self._core.drive(
            flows.put(self._core.session, check_schedule_name(name), queue, rules, template)
        )
        return schedule(stored, flows.decode_task(stored))

    async def get_schedules(self) -> list[Schedule[str]]:
        """Every schedule under this client's prefix, by name, with its next due time, the
        last due time it fired and its counts (what ``worqr schedules`` shows)."""
        return await self._core.drive(flows.get_all(self._core.session, flows.decode_task))

    async def remove_schedule(self, name: str) -> bool:
        """Delete the schedule ``name``: True if it was there. Runs it enqueued stay."""
        return await self._core.drive(flows.remove(self._core.session, check_schedule_name(name)))
