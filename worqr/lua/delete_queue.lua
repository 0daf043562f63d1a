-- delete_queue: drop a queue's pending tasks and unique markers.
--
-- Guarantees: the queue is empty afterwards and the unique markers of the dropped payloads
-- are cleared; processes already taken stay with their workers (and keep their markers),
-- who may still finish or stop them; the process counter is kept so process ids are never
-- reused.
--
-- KEYS[1] queue   LIST  pending tasks
-- KEYS[2] unique  SET   the queue's unique markers
-- ARGV[1] channel       the queue's event channel
-- Returns: {0, removed}  how many pending tasks were dropped
-- Publishes: "delete\n"
-- @include call_chunked
-- @include check_types
local queue, unique = KEYS[1], KEYS[2]
local type_error = check_types({{queue, "list"}, {unique, "set"}})
if type_error then
  return type_error
end
local tasks = redis.call("LRANGE", queue, 0, -1)
if #tasks > 0 then
  call_chunked("SREM", unique, tasks, 1, #tasks)
  redis.call("DEL", queue)
end
local removed = #tasks
redis.call("PUBLISH", ARGV[1], "delete\n")
return {0, removed}
