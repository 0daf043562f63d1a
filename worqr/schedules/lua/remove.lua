-- remove: delete a schedule from its queue.
--
-- Guarantees: the record and its due time go together; a run it already enqueued stays.
-- Idempotent.
--
-- KEYS[1] record   HASH    the schedule ({P:Q}:schedule:<name>)
-- KEYS[2] due      ZSET    the queue's schedules by next due time
-- ARGV[1] name
-- Returns: {0, removed}  removed: 1 if the schedule was there
-- @include check_types
local record, due, name = KEYS[1], KEYS[2], ARGV[1]
local type_error = check_types({{record, "hash"}, {due, "zset"}})
if type_error then
  return type_error
end
local removed = redis.call("DEL", record)
redis.call("ZREM", due, name)
return {0, removed}
