-- remove_worker_queue: forget that a worker works on a queue (last step of stop_work).
--
-- Guarantees: idempotent; run only after leave_queue requeued the worker's processes there.
--
-- KEYS[1] queues_of  SET  queues the worker works on
-- ARGV[1] queue
-- Returns: {0}
redis.call("SREM", KEYS[1], ARGV[1])
return {0}
