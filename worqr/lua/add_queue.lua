-- add_queue: record a queue in the registry (first step of anything that fills a queue).
--
-- Guarantees: the queue is listed by get_queues; idempotent.
--
-- KEYS[1] queues  SET  registry of existing queue names
-- ARGV[1] queue        the queue name
-- Returns: {0}
redis.call("SADD", KEYS[1], ARGV[1])
return {0}
