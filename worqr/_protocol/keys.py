"""Every Redis key and channel name worqr uses, built in one place.

Layout (``P`` is the prefix, ``Q`` the queue name with ``%``, ``{``, ``}`` and ``:``
percent-encoded so that it can never end the hash tag or shift the prefix):

    {P:Q}:queue            LIST    pending tasks; index 0 is the front (dequeued next)
    {P:Q}:unique           SET     payloads enqueued with unique=True, queued or in process
    {P:Q}:workers          SET     ids of workers that may dequeue from Q (start_work)
    {P:Q}:incarnations     HASH    worker id -> token of its registration that joined Q
    {P:Q}:seq              STRING  counter that numbers the processes of Q
    {P:Q}:process:<W>      HASH    worker W's processes on Q: sequence number -> payload
    {P:Q}:delayed          ZSET    tasks not due yet: "<n>:<payload>" scored by due time (server ms)
    {P:Q}:attempts         HASH    payload -> attempts that failed or were interrupted so far
    {P:Q}:dead             HASH    dead letters: id -> envelope (payload, error, attempts, time)
    {P:Q}:idle             ZSET    workers idle on Q, by when they became idle (the wake include)
    {P:Q}:listed           STRING  set while Q is known to be in {P}:queues (expires; see enqueue)
    {P:Q}:events           channel scheduled / cancel / delete events of Q
    {P:Q}:work             channel work events of Q (broadcast, for `on` listeners)
    {P:Q}:done             channel done events of Q (apart, so that workers need not hear them)
    {P:Q}:idle:<W>         channel wake-ups for worker W alone, sent when W is idle on Q
    {P:Q}:call:<id>        HASH    the record of a call (worqr.calls): state, times, result
    {P:Q}:call-keys        HASH    unique key -> id of the live call that holds it
    {P:Q}:counters         HASH    the queue's exact totals (enqueued, finished, failed...)
    {P:Q}:paused           STRING  set while Q is paused: it takes tasks and hands none out
    {P:Q}:calls:<C>        channel notices for caller C: a call of its ended (or progressed)
    {P:Q}:schedule:<S>     HASH    schedule S (worqr.schedules): its spec, task, revision, runs
    {P:Q}:schedule-due     ZSET    the schedules of Q by their next due time (server ms)

    {P}:queues             SET     registry of existing queue names
    {P}:workers            SET     registered, live workers
    {P}:reaping            SET     workers declared dead whose processes are being requeued
    {P}:heartbeat:<W>      STRING  W's heartbeat; expires after worker_timeout (server time)
    {P}:deadlines          ZSET    worker -> when its heartbeat runs out (server ms): a hint that
                                   lets peers reap a worker as soon as it is overdue
    {P}:queues-of:<W>      SET     queues W works on
    {P}:ended              ZSET    workers declared dead in the last day, by when
    {P}:leases-of:<W>      SET     names of the leases W contends for (released when W is reaped)
    {P}:leases             SET     registry of lease names ever used (worqr.leases)
    {P}:schedules          HASH    schedule name -> the queue that holds it (worqr.schedules)
    {P}:worker:<W>         HASH    W's record: host, pid, version, started_at, timeout_ms
                                   (and concurrency, from the runtime); ended_at once it
                                   was declared dead, then kept a day

    {P:lease:N}:holder     HASH    lease N's holder (worker, owner, token, incarnation,
                                   acquired_at, ttl_ms); expires after its ttl (server time)
    {P:lease:N}:token      STRING  the last fencing token of lease N; never expires
    {P:lease:N}:released   channel N was released (a standby takes over at once)

    {P:stream:N}:messages  STREAM  stream N's messages (worqr.streams); groups are its
                                   consumer groups, a consumer is a worker id
    {P:stream:N}:part:<i>  STREAM  partition i of an ordered stream (in place of :messages)
    {P:stream:N}:owners    HASH    "<group>\n<i>" -> "<worker id>\n<incarnation>": who consumes
                                   partition i of an ordered stream in the group
    {P:stream:N}:consumers HASH    "<group>\n<worker id>" -> the incarnation that joined
    {P:stream:N}:dead      STREAM  dead letters: messages delivered max_deliveries times
    {P:stream:N}:meta      HASH    the stream's settings: "retain" ("1": until every group
                                   acked), "partitions" ("0": not ordered)
    {P:stream:N}:counters  HASH    the stream's totals (published, delivered, redelivered, acked...)
    {P:stream:N}:published channel messages were published (subscribers read at once)
    {P}:streams-of:<W>     SET     names of the streams W consumes (released when W is reaped)
    {P}:streams            SET     registry of stream names subscribed to (worqr.streams)

All keys of one queue share the hash tag ``{P:Q}`` and so one Redis Cluster slot; the
registries share ``{P}``; a lease's keys ``{P:lease:N}`` and a stream's ``{P:stream:N}``
(N escaped as a queue name is: a queue's tag never holds a bare ``:`` after the prefix, so
they cannot meet). Nothing else
in worqr concatenates key names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_TAG_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D", ":": "%3A"})


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys and channel of one queue, all under the hash tag ``{prefix:queue}``."""

    prefix: str
    queue: str
    tag: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag", "{" + self.prefix + ":" + self.queue.translate(_TAG_ESCAPES) + "}")

    @property
    def pending(self) -> str:
        return self.tag + ":queue"

    @property
    def unique(self) -> str:
        return self.tag + ":unique"

    @property
    def workers(self) -> str:
        return self.tag + ":workers"

    @property
    def incarnations(self) -> str:
        return self.tag + ":incarnations"

    @property
    def seq(self) -> str:
        return self.tag + ":seq"

    @property
    def channel(self) -> str:
        return self.tag + ":events"

    @property
    def work_channel(self) -> str:
        """Where broadcast ``work`` events go: apart, so that runtime workers (woken one by
        one on their own channels) need not hear them."""
        return self.tag + ":work"

    @property
    def done_channel(self) -> str:
        """Where ``done`` events go: apart from the rest, so workers need not hear them."""
        return self.tag + ":done"

    @property
    def listed(self) -> str:
        return self.tag + ":listed"

    @property
    def idle(self) -> str:
        return self.tag + ":idle"

    def wake_channel(self, worker_id: str) -> str:
        """The channel on which the scripts wake this worker when it is idle on the queue."""
        return self.idle + ":" + worker_id

    @property
    def delayed(self) -> str:
        return self.tag + ":delayed"

    @property
    def attempts(self) -> str:
        return self.tag + ":attempts"

    @property
    def dead(self) -> str:
        return self.tag + ":dead"

    def processes(self, worker_id: str) -> str:
        return self.tag + ":process:" + worker_id

    def call(self, call_id: str) -> str:
        """The record of call ``call_id`` (worqr.calls; lua/include/call_record.lua)."""
        return self.tag + ":call:" + call_id

    @property
    def call_keys(self) -> str:
        return self.tag + ":call-keys"

    @property
    def paused(self) -> str:
        return self.tag + ":paused"

    @property
    def counters(self) -> str:
        """The queue's exact totals (lua/include/counters.lua)."""
        return self.tag + ":counters"

    def schedule(self, name: str) -> str:
        """Schedule ``name`` of this queue (worqr.schedules)."""
        return self.tag + ":schedule:" + name

    @property
    def schedule_due(self) -> str:
        return self.tag + ":schedule-due"

    def notices(self, caller: str) -> str:
        """The channel on which this queue's scripts tell caller ``caller`` that a call ended."""
        return self.tag + ":calls:" + caller


@dataclass(frozen=True, slots=True)
class RegistryKeys:
    """The registries shared by all queues of a prefix, under the hash tag ``{prefix}``."""

    prefix: str

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    @property
    def queues(self) -> str:
        return self.tag + ":queues"

    @property
    def workers(self) -> str:
        return self.tag + ":workers"

    @property
    def reaping(self) -> str:
        return self.tag + ":reaping"

    @property
    def ended(self) -> str:
        """Workers declared dead in the last day, scored by when (lua/declare_dead.lua)."""
        return self.tag + ":ended"

    def worker(self, worker_id: str) -> str:
        """The worker's record (lua/register_worker.lua)."""
        return self.tag + ":worker:" + worker_id

    def heartbeat(self, worker_id: str) -> str:
        return self.tag + ":heartbeat:" + worker_id

    @property
    def deadlines(self) -> str:
        """Worker -> when its heartbeat runs out: the hint of lua/heartbeat.lua."""
        return self.tag + ":deadlines"

    def queues_of(self, worker_id: str) -> str:
        return self.tag + ":queues-of:" + worker_id

    def leases_of(self, worker_id: str) -> str:
        """The names of the leases the worker contends for (worqr.leases)."""
        return self.tag + ":leases-of:" + worker_id

    @property
    def leases(self) -> str:
        return self.tag + ":leases"

    def streams_of(self, worker_id: str) -> str:
        """The names of the streams ``worker_id`` consumes (worqr.streams)."""
        return self.tag + ":streams-of:" + worker_id

    @property
    def streams(self) -> str:
        """Every stream name subscribed to under this prefix."""
        return self.tag + ":streams"

    @property
    def schedules(self) -> str:
        """Schedule name -> the queue that holds it (worqr.schedules)."""
        return self.tag + ":schedules"


@dataclass(frozen=True, slots=True)
class LeaseKeys:
    """The keys and channel of one lease, under the hash tag ``{prefix:lease:name}``."""

    prefix: str
    name: str
    tag: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag", "{" + self.prefix + ":lease:" + self.name.translate(_TAG_ESCAPES) + "}")

    @property
    def holder(self) -> str:
        return self.tag + ":holder"

    @property
    def token(self) -> str:
        return self.tag + ":token"

    @property
    def released(self) -> str:
        return self.tag + ":released"


@dataclass(frozen=True, slots=True)
class StreamKeys:
    """The keys and channel of one stream (worqr.streams), under the hash tag
    ``{prefix:stream:name}``."""

    prefix: str
    name: str
    #: For an ordered stream's partition: its index; `messages` is then that partition's
    #: stream (every other key is the stream's own).
    partition: int | None = None
    tag: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag", "{" + self.prefix + ":stream:" + self.name.translate(_TAG_ESCAPES) + "}")

    @property
    def messages(self) -> str:
        if self.partition is None:
            return self.tag + ":messages"
        return self.tag + ":part:" + str(self.partition)

    def of_partition(self, index: int) -> StreamKeys:
        """The keys of partition ``index`` of this (ordered) stream."""
        return StreamKeys(self.prefix, self.name, index)

    @property
    def owners(self) -> str:
        return self.tag + ":owners"

    @property
    def consumers(self) -> str:
        return self.tag + ":consumers"

    @property
    def dead(self) -> str:
        return self.tag + ":dead"

    @property
    def meta(self) -> str:
        return self.tag + ":meta"

    @property
    def counters(self) -> str:
        return self.tag + ":counters"

    @property
    def published(self) -> str:
        return self.tag + ":published"
