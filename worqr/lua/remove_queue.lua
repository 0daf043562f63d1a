-- remove_queue: drop a queue from the registry (second step of delete_queue).
--
-- Guarantees: the queue is no longer listed by get_queues; idempotent.
--
-- KEYS[1] queues  SET  registry of existing queue names
-- ARGV[1] queue        the queue name
-- Returns: {0}
redis.call("SREM", KEYS[1], ARGV[1])
return {0}
