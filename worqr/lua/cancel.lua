-- cancel: remove every queued copy of a payload and tell the workers running it.
--
-- Guarantees: no queued copy of the payload is left; processes are untouched (their workers
-- hear the cancel event). The unique marker clears when a queued copy was removed.
--
-- KEYS[1] queue   LIST  pending tasks
-- KEYS[2] unique  SET   the queue's unique markers
-- ARGV[1] channel       the queue's event channel
-- ARGV[2] task          the payload to cancel
-- Returns: {0, removed}
-- Publishes: "cancel\n<task>"
-- @include check_types
local queue, unique = KEYS[1], KEYS[2]
local channel, task = ARGV[1], ARGV[2]
local type_error = check_types({{queue, "list"}, {unique, "set"}})
if type_error then
  return type_error
end

local removed = redis.call("LREM", queue, 0, task)
if removed > 0 then
  redis.call("SREM", unique, task)
end
redis.call("PUBLISH", channel, "cancel\n" .. task)
return {0, removed}
