-- finish: remove a process's task for good and announce its result and how it ended.
--
-- Guarantees: only the worker that owns the process can finish it, once; a process that
-- was finished, stopped, or requeued by a reaper gives PROCESS_LOST and changes nothing.
-- Clears the unique marker and the attempt count of the payload. The done event carries at
-- most EVENT_TASK_PREVIEW bytes of the task (event_task.lua), whatever its size.
--
-- KEYS[1] processes  HASH  the finishing worker's processes on this queue: seq -> payload
-- KEYS[2] unique     SET   the queue's unique markers
-- KEYS[3] attempts   HASH  payload -> attempts that failed or were interrupted so far
-- KEYS[4] counters   HASH  the queue's counters (include counters)
-- ARGV[1] done channel     the queue's channel for done events ({P:Q}:done)
-- ARGV[2] seq              the process's sequence number
-- ARGV[3] worker_id
-- ARGV[4] result           the result, as JSON
-- ARGV[5] outcome          how the process ended: "succeeded", or "cancelled" (a cancel event named it)
-- Returns: {0} | {-1} PROCESS_LOST
-- Publishes: "done\n<worker_id>\n<seq>\n<outcome>\n<task size>\n<result>\n<task preview>"
-- Derived keys: the record of a call task, and its caller's channel (include call_record).
-- Counts: finished or cancelled; fenced, in the queue's counters ({P:Q}:counters; include counters).
-- @include check_types
-- @include owned
-- @include publish
-- @include event_task
-- @include server_time
-- @include call_record
-- @include counters
local processes, unique, attempts = KEYS[1], KEYS[2], KEYS[3]
local counters = KEYS[4]
local channel, seq, worker_id, result, outcome = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local type_error = check_types({{processes, "hash"}, {unique, "set"}, {attempts, "hash"}})
if type_error then
  return type_error
end

local task = take_owned(processes, seq)
if not task then
  count_change(counters, "fenced", 1)
  return {-1}
end
count_change(counters, outcome == "cancelled" and "cancelled" or "finished", 1)
redis.call("SREM", unique, task)
redis.call("HDEL", attempts, task)
call_end(queue_tag(processes), task, outcome == "cancelled" and "cancelled" or "succeeded", "result", result)
publish(channel, done_message(worker_id, seq, outcome, result, task))
return {0}
