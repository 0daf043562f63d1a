-- fail: end a process whose handler failed: count the attempt, then either schedule the
-- task for another attempt or move it to the queue's dead letters.
--
-- Guarantees: only the worker that owns the process can fail it, once; a process that was
-- finished, stopped, or requeued by a reaper gives PROCESS_LOST and changes nothing. The
-- attempt count lives in Redis, so it survives the worker. A retried task keeps its unique
-- marker (it is still waiting); a dead-lettered one loses it, and its attempt count is reset.
-- Dead letter ids are never reused within a queue, not even after Redis lost data (next_ids).
--
-- KEYS[1] processes  HASH    the failing worker's processes on this queue: seq -> payload
-- KEYS[2] attempts   HASH    payload -> attempts that failed or were interrupted so far
-- KEYS[3] delayed    ZSET    tasks not due yet: "<n>:<payload>" scored by due time (ms)
-- KEYS[4] dead       HASH    dead letters: id -> envelope
-- KEYS[5] unique     SET     the queue's unique markers
-- KEYS[6] seq        STRING  the queue's counter (next_ids: numbers delayed entries and dead letters)
-- KEYS[7] counters   HASH    the queue's counters (include counters)
-- ARGV[1] channel            the queue's event channel
-- ARGV[2] seq                the process's sequence number
-- ARGV[3] worker_id
-- ARGV[4] max_attempts       dead-letter once this many attempts failed; 0: never
-- ARGV[5] retry_in_ms        delay before the next attempt
-- ARGV[6] count              "1": this attempt counts; "0": only check the limit (the task
--                            already used its attempts in workers that died)
-- ARGV[7] error_type
-- ARGV[8] error_message
-- Returns: {0, attempts, dead_letter_id (a string; 0 when retried)} | {-1} PROCESS_LOST
-- Publishes: "scheduled\n<retry_in_ms>" when retried
-- Dead-letter envelope: "<attempts>\n<failed_at_ms>\n<worker_id>\n<error_type>\n<len>\n<message><payload>"
-- Derived keys: the record of a call task, and its caller's channel (include call_record).
-- Counts: failed, dead_lettered; fenced, in the queue's counters ({P:Q}:counters; include counters).
-- @include check_types
-- @include owned
-- @include check_counter
-- @include next_ids
-- @include server_time
-- @include publish
-- @include call_record
-- @include counters
local processes, attempts, delayed, dead, unique, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local counters = KEYS[7]
local channel, process_seq, worker_id = ARGV[1], ARGV[2], ARGV[3]
local max_attempts, retry_in, counted = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == "1"
local error_type, message = ARGV[7], ARGV[8]
local type_error = check_types({
  {processes, "hash"}, {attempts, "hash"}, {delayed, "zset"}, {dead, "hash"}, {unique, "set"}, {seq, "string"},
}) or check_counter(seq)
if type_error then
  return type_error
end
local task = owned_task(processes, process_seq)
if not task then
  count_change(counters, "fenced", 1)
  return {-1}
end
local previous = redis.call("HGET", attempts, task)
if previous and not tonumber(previous) then
  return redis.error_reply("worqr key " .. attempts .. " holds a count that is not a number; nothing was changed")
end

take_owned(processes, process_seq)
count_change(counters, "failed", 1)
local n = (tonumber(previous) or 0) + (counted and 1 or 0)
local now = server_time()
if max_attempts > 0 and n >= max_attempts then
  local id = next_ids(seq, 1)(1)
  local envelope = n .. "\n" .. now .. "\n" .. worker_id .. "\n" .. error_type .. "\n" .. #message .. "\n" .. message .. task
  redis.call("HSET", dead, id, envelope)
  redis.call("HDEL", attempts, task)
  redis.call("SREM", unique, task)
  call_end(queue_tag(processes), task, "failed", "attempts", n, "error_type", error_type, "error", message)
  count_change(counters, "dead_lettered", 1)
  return {0, n, id}
end
redis.call("HSET", attempts, task, n)
local member = pad_number(next_ids(seq, 1)(1)) .. ":" .. task
redis.call("ZADD", delayed, now + retry_in, member)
call_update(queue_tag(processes), task, "state", "scheduled", "attempts", n, "error_type", error_type, "error", message, "member", member)
publish(channel, "scheduled\n" .. string.format("%d", retry_in))
return {0, n, 0}
