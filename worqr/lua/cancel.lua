-- cancel: remove every waiting copy (queued or delayed) of a payload and tell the workers
-- running it.
--
-- Guarantees: no queued or delayed copy of the payload is left; processes are untouched
-- (their workers hear the cancel event: the payload itself, or its SHA1 for a payload over
-- EVENT_TASK_PREVIEW bytes, see event_task.lua). The unique marker and the attempt count
-- clear when a waiting copy was removed. Costs O(delayed tasks) when the queue has delayed
-- tasks.
--
-- KEYS[1] queue     LIST  pending tasks
-- KEYS[2] unique    SET   the queue's unique markers
-- KEYS[3] delayed   ZSET  tasks not due yet: "<n>:<payload>"
-- KEYS[4] attempts  HASH  payload -> attempts that failed or were interrupted so far
-- KEYS[5] counters  HASH  the queue's counters (include counters)
-- ARGV[1] channel       the queue's event channel
-- ARGV[2] task          the payload to cancel
-- Returns: {0, removed}
-- Publishes: "cancel\n<task>", or for a task over EVENT_TASK_PREVIEW bytes
-- "cancel-digest\n<sha1 hex>\n<task size>\n<task preview>"
-- Derived keys: the record of a call task, and its caller's channel (include call_record).
-- Counts: cancelled, in the queue's counters ({P:Q}:counters; include counters).
-- @include check_types
-- @include publish
-- @include event_task
-- @include server_time
-- @include call_record
-- @include counters
local queue, unique, delayed, attempts = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local counters = KEYS[5]
local channel, task = ARGV[1], ARGV[2]
local type_error = check_types({{queue, "list"}, {unique, "set"}, {delayed, "zset"}, {attempts, "hash"}})
if type_error then
  return type_error
end

local removed = redis.call("LREM", queue, 0, task)
if redis.call("EXISTS", delayed) == 1 then
  for _, entry in ipairs(redis.call("ZRANGE", delayed, 0, -1)) do
    if string.sub(entry, string.find(entry, ":", 1, true) + 1) == task then
      removed = removed + redis.call("ZREM", delayed, entry)
    end
  end
end
if removed > 0 then
  redis.call("SREM", unique, task)
  redis.call("HDEL", attempts, task)
  call_end(queue_tag(queue), task, "cancelled")
  count_change(counters, "cancelled", removed)
end
publish(channel, cancel_message(task))
return {0, removed}
