-- delete_queue: drop a queue's pending tasks and unique markers.
--
-- Guarantees: the queue is empty and unmarked afterwards; processes already taken stay
-- with their workers, who may still finish or stop them; the process counter is kept so
-- process ids are never reused.
--
-- KEYS[1] queue   LIST  pending tasks
-- KEYS[2] unique  SET   the queue's unique markers
-- ARGV[1] channel       the queue's event channel
-- Returns: {0, removed}  how many pending tasks were dropped
-- Publishes: "delete\n"
local queue, unique = KEYS[1], KEYS[2]
local removed = redis.call("LLEN", queue)
redis.call("DEL", queue, unique)
redis.call("PUBLISH", ARGV[1], "delete\n")
return {0, removed}
