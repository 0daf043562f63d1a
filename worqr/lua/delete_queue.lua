-- delete_queue: drop a queue's waiting tasks (queued and delayed), their unique markers
-- and attempt counts.
--
-- Guarantees: the queue is empty afterwards and the unique markers of the dropped payloads
-- are cleared; processes already taken stay with their workers (and keep their markers),
-- who may still finish or stop them; the counter is kept so process ids are never reused;
-- dead letters stay until purged.
--
-- KEYS[1] queue     LIST  pending tasks
-- KEYS[2] unique    SET   the queue's unique markers
-- KEYS[3] delayed   ZSET  tasks not due yet: "<n>:<payload>"
-- KEYS[4] attempts  HASH  payload -> attempts that failed or were interrupted so far
-- KEYS[5] listed    STRING  the enqueue's registry marker (see enqueue): cleared, so the next
--                         enqueue lists the queue again (the caller unlisted it just before)
-- KEYS[6] counters  HASH  the queue's counters (include/counters.lua): deleted with it
-- ARGV[1] channel       the queue's event channel
-- Returns: {0, removed}  how many waiting tasks were dropped
-- Publishes: "delete\n"
-- @include call_chunked
-- @include check_types
-- @include publish
local queue, unique, delayed, attempts, listed = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local counters = KEYS[6]
local type_error = check_types({{queue, "list"}, {unique, "set"}, {delayed, "zset"}, {attempts, "hash"}})
if type_error then
  return type_error
end
local tasks = redis.call("LRANGE", queue, 0, -1)
for _, entry in ipairs(redis.call("ZRANGE", delayed, 0, -1)) do
  tasks[#tasks + 1] = string.sub(entry, string.find(entry, ":", 1, true) + 1)
end
if #tasks > 0 then
  call_chunked("SREM", unique, tasks, 1, #tasks)
  call_chunked("HDEL", attempts, tasks, 1, #tasks)
  redis.call("DEL", queue, delayed)
end
redis.call("DEL", listed, counters)
local removed = #tasks
publish(ARGV[1], "delete\n")
return {0, removed}
