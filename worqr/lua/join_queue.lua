-- join_queue: let a worker dequeue from a queue (first step of start_work; the second,
-- add_worker_queue, undoes it with leave_queue if the worker was declared dead).
--
-- Guarantees: the worker is a member of the queue's workers set; idempotent.
--
-- KEYS[1] workers  SET   workers allowed to dequeue from this queue
-- KEYS[2] queue    LIST  pending tasks
-- ARGV[1] worker_id
-- Returns: {0, pending}  how many tasks are waiting
redis.call("SADD", KEYS[1], ARGV[1])
return {0, redis.call("LLEN", KEYS[2])}
