-- call_cancel: cancel a call: a waiting one is removed and ends cancelled at once; a running
-- one is told (a cancel event: its worker finishes it as cancelled); an ended one stays as it is.
--
-- Guarantees: a call ends at most once: one that is queued or scheduled when this runs never
-- runs; one already running ends however its handler ends it (as cancelled if the handler
-- hears its token before it returns).
--
-- KEYS[1] record     HASH  the call's record ({P:Q}:call:<id>)
-- KEYS[2] queue      LIST  pending tasks
-- KEYS[3] delayed    ZSET  tasks not due yet
-- KEYS[4] attempts   HASH  payload -> attempts so far
-- KEYS[5] counters   HASH  the queue's counters (include counters)
-- ARGV[1] channel          the queue's event channel
-- ARGV[2] id               the call's id
-- Returns: {0, outcome}: "cancelled" (it was waiting), "running" (its worker was told),
--   "ended" (it had ended already) or "unknown" (no record: no such call, or it expired)
-- Publishes: "cancel\n<task>" (or its digest form) when the call runs; the caller's notice
--   when it was waiting (include call_record)
-- Derived keys: the call-keys hash (include call_record)
-- Counts: cancelled, in the queue's counters ({P:Q}:counters; include counters).
-- @include check_types
-- @include server_time
-- @include publish
-- @include event_task
-- @include call_record
-- @include counters
local record, queue, delayed, attempts = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local counters = KEYS[5]
local channel = ARGV[1]
local type_error = check_types({{record, "hash"}, {queue, "list"}, {delayed, "zset"}, {attempts, "hash"}})
if type_error then
  return type_error
end

local fields = redis.call("HMGET", record, "state", "task", "member")
local state, task, member = fields[1], fields[2], fields[3]
if not state then
  return {0, "unknown"}
end
if state == "succeeded" or state == "failed" or state == "cancelled" then
  return {0, "ended"}
end
if (state == "queued" or state == "scheduled") and task then
  -- Waiting: removed (a task a queue deletion dropped is gone already: it ends all the same).
  if state == "queued" then
    redis.call("LREM", queue, 1, task)
  elseif member and member ~= "" then
    redis.call("ZREM", delayed, member)
  end
  redis.call("HDEL", attempts, task)
  call_end(queue_tag(queue), task, "cancelled")
  count_change(counters, "cancelled", 1)
  return {0, "cancelled"}
end
if task then
  publish(channel, cancel_message(task))
end
return {0, "running"}
