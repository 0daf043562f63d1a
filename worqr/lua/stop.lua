-- stop: give a process's task back to the front of its queue.
--
-- Guarantees: only the worker that owns the process can stop it, once; a process that was
-- finished, stopped, or requeued by a reaper gives PROCESS_LOST and changes nothing.
-- The unique marker stays: the task is queued again.
--
-- KEYS[1] processes  HASH  the stopping worker's processes on this queue: seq -> payload
-- KEYS[2] queue      LIST  pending tasks, front = index 0
-- KEYS[3] idle       ZSET  workers idle on this queue (see the wake include)
-- KEYS[4] counters   HASH  the queue's counters (include counters)
-- ARGV[1] channel          the queue's work channel ({P:Q}:work)
-- ARGV[2] seq              the process's sequence number
-- Returns: {0} | {-1} PROCESS_LOST
-- Publishes: "work\n1"; wakes one idle worker (wake include)
-- Derived keys: the record of a call task, and its caller's channel (include call_record).
-- Counts: fenced, in the queue's counters ({P:Q}:counters; include counters).
-- @include check_types
-- @include owned
-- @include publish
-- @include wake
-- @include server_time
-- @include call_record
-- @include counters
local processes, queue, idle = KEYS[1], KEYS[2], KEYS[3]
local counters = KEYS[4]
local channel, seq = ARGV[1], ARGV[2]
local type_error = check_types({{processes, "hash"}, {queue, "list"}, {idle, "zset"}})
if type_error then
  return type_error
end

local task = take_owned(processes, seq)
if not task then
  count_change(counters, "fenced", 1)
  return {-1}
end
redis.call("LPUSH", queue, task)
call_update(queue_tag(queue), task, "state", "queued")
wake(idle, 1)
publish(channel, "work\n1")
return {0}
