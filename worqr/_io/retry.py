"""The retry policies for transient connection failures (tenacity): one server's, and a
Redis Cluster's while its slots move or fail over.

A call is retried only when retrying cannot apply an effect twice: the connection failed
before the command was sent, Redis answered LOADING (nothing ran), or every call in the
batch is idempotent.
"""

from __future__ import annotations

from typing import Any

from tenacity import retry_if_exception_type, stop_after_attempt, stop_after_delay, wait_exponential, wait_random


class RetryableFailure(Exception):
    """A failure after which the whole batch may safely be sent again."""


#: At most 6 attempts within ~10 s, backing off exponentially with jitter from 50 ms.
#: Long enough to ride over a Redis restart, short enough that callers hear of an outage.
POLICY: dict[str, Any] = {
    "stop": stop_after_attempt(6) | stop_after_delay(10.0),
    "wait": wait_exponential(multiplier=0.05, max=2.0) + wait_random(0, 0.1),
    "retry": retry_if_exception_type(RetryableFailure),
    "reraise": True,
}

#: How long a batch waits for its slots to be served again (a failover: the cluster notices
#: a dead primary after ``cluster-node-timeout``, then promotes a replica), backing off
#: exponentially from 50 ms to 1 s, reloading the slot map before each try.
#: How long a partial read (see ``Call.partial``) waits for an unreachable node before it
#: answers without it.
PARTIAL_POLICY: dict[str, Any] = {
    "stop": stop_after_delay(3.0),
    "wait": wait_exponential(multiplier=0.05, max=0.5) + wait_random(0, 0.05),
    "retry": retry_if_exception_type(RetryableFailure),
    "reraise": True,
}
CLUSTER_POLICY: dict[str, Any] = {
    "stop": stop_after_delay(15.0),
    "wait": wait_exponential(multiplier=0.05, max=1.0) + wait_random(0, 0.05),
    "retry": retry_if_exception_type(RetryableFailure),
    "reraise": True,
}
