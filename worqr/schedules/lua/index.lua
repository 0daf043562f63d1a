-- index: record which queue holds a schedule, or forget it (the registry of schedule names).
--
-- Guarantees: "set" points the name at the queue; "drop" forgets the name only while it still
-- points at the queue given, so that a remove racing an upsert that moved the schedule to
-- another queue cannot forget the moved one. Idempotent.
--
-- KEYS[1] index    HASH    schedule name -> the queue that holds it ({P}:schedules)
-- ARGV[1] action           "set" or "drop"
-- ARGV[2] name
-- ARGV[3] queue
-- Returns: {0}
-- @include check_types
local index, action, name, queue = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local type_error = check_types({{index, "hash"}})
if type_error then
  return type_error
end
if action == "set" then
  redis.call("HSET", index, name, queue)
elseif redis.call("HGET", index, name) == queue then
  redis.call("HDEL", index, name)
end
return {0}
