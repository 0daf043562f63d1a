-- put: create or update a schedule (upsert by name) on its queue.
--
-- Guarantees: the record and its due time change together. An update that keeps the due
-- times (the same cron and time zone, or the same interval) keeps the next due time and the
-- counts; any update bumps the revision, so that a worker that read the old record before
-- it fires changes nothing (see fire.lua) and reads it again.
--
-- KEYS[1] record   HASH    the schedule ({P:Q}:schedule:<name>; worqr/schedules/records.py)
-- KEYS[2] due      ZSET    the queue's schedules by next due time (server ms)
-- ARGV[1] name
-- ARGV[2] channel          the queue's event channel
-- ARGV[3] rules            JSON: cron, every_ms, tz, overlap, catch_up
-- ARGV[4] timing           what identifies the due times
-- ARGV[5] first due        the due time for a new timing (server ms)
-- ARGV[6] overlap          "allow" or "skip"
-- ARGV[7] kind             "task" or "call"
-- ARGV[8] task             the payload (a call's: its arguments)
-- ARGV[9] function         the function's name ("" for a task)
-- ARGV[10] result_ttl      ms a call's record is kept once it ended (calls)
-- ARGV[11] record_ttl      ms a call's record is kept, at most, while it runs (calls)
-- Returns: {0, created, due_ms}  created: 1 for a new schedule
-- Publishes: "scheduled\n<due_in_ms>" (the queue's workers look again when it is due)
-- @include check_types
-- @include server_time
-- @include publish
local record, due = KEYS[1], KEYS[2]
local name, channel, rules, timing, first_due = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local type_error = check_types({{record, "hash"}, {due, "zset"}})
if type_error then
  return type_error
end

local now = server_time()
local exists = redis.call("EXISTS", record) == 1
local score = redis.call("ZSCORE", due, name)
local next_due = first_due
if exists and score and redis.call("HGET", record, "timing") == timing then
  next_due = tonumber(score)
end
if not exists then
  redis.call("HSET", record, "created_at", now, "runs", 0, "skipped", 0, "missed", 0)
end
redis.call("HSET", record, "rules", rules, "timing", timing, "overlap", ARGV[6], "kind", ARGV[7], "task", ARGV[8],
  "function", ARGV[9], "result_ttl", ARGV[10], "record_ttl", ARGV[11])
redis.call("HINCRBY", record, "rev", 1)
redis.call("ZADD", due, next_due, name)
publish(channel, "scheduled\n" .. string.format("%d", math.max(0, next_due - now)))
return {0, exists and 0 or 1, next_due}
