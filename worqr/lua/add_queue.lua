-- add_queue: record a queue in the registry. Sent in the same round trip before enqueue and
-- stop, and after leave_queue when that requeued anything.
--
-- Guarantees: the queue is listed by get_queues; idempotent.
--
-- KEYS[1] queues  SET  registry of existing queue names
-- ARGV[1] queue        the queue name
-- Returns: {0}
redis.call("SADD", KEYS[1], ARGV[1])
return {0}
