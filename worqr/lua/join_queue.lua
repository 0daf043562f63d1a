-- join_queue: let a worker dequeue from a queue (first step of start_work; the second,
-- add_worker_queue, undoes it with leave_queue if the worker was declared dead).
--
-- Guarantees: the worker is a member of the queue's workers set, as the incarnation named
-- by the token (each registration of a worker id is a new one): a dequeue sent by an
-- earlier incarnation, and applied late, is refused (see dequeue); idempotent.
--
-- KEYS[1] workers       SET   workers allowed to dequeue from this queue
-- KEYS[2] queue         LIST  pending tasks
-- KEYS[3] incarnations  HASH  worker_id -> the token of its incarnation that joined
-- ARGV[1] worker_id
-- ARGV[2] incarnation         the token of the worker's current registration
-- Returns: {0, pending}  how many tasks are waiting
-- @include check_types
local workers, queue, incarnations = KEYS[1], KEYS[2], KEYS[3]
local worker_id, incarnation = ARGV[1], ARGV[2]
local type_error = check_types({{workers, "set"}, {queue, "list"}, {incarnations, "hash"}})
if type_error then
  return type_error
end
redis.call("SADD", workers, worker_id)
redis.call("HSET", incarnations, worker_id, incarnation)
return {0, redis.call("LLEN", queue)}
