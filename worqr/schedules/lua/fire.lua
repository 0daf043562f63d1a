-- fire: enqueue the run of a schedule's due time, once, and set its next due time.
--
-- Guarantees: each due time of a schedule fires at most once, whoever tries it and however
-- often: only the caller that names the schedule's current due time and revision changes
-- anything, and it moves the due time on in the same script; never before the due time by
-- the server's clock. With overlap "skip", the run is skipped (and counted) while the
-- schedule's previous run is still queued, waiting for a retry or running: for a task, while
-- its payload is marked in the queue's unique set (this script marks it, and finishing or
-- dead-lettering it clears the mark); for a call, while the last call's record is open.
-- A call's run is placed as worqr.calls' call.lua places one: task and record together.
--
-- KEYS[1] record   HASH    the schedule ({P:Q}:schedule:<name>; worqr/schedules/records.py)
-- KEYS[2] due      ZSET    the queue's schedules by next due time (server ms)
-- KEYS[3] queue    LIST    pending tasks, front = index 0
-- KEYS[4] unique   SET     the queue's unique markers
-- KEYS[5] idle     ZSET    workers idle on this queue (see the wake include)
-- KEYS[6] listed   STRING  set while the queue is in the queue registry (see enqueue)
-- KEYS[7] counters HASH    the queue's counters (include counters)
-- ARGV[1] name
-- ARGV[2] due              the due time the caller fires (server ms)
-- ARGV[3] rev              the record's revision the caller read
-- ARGV[4] fire             "1": run it; "0": let it pass (missed, catch_up "none")
-- ARGV[5] next due         the next due time (server ms), computed from the record's rules
-- ARGV[6] work channel     the queue's work channel
-- ARGV[7] call id          a fresh call id (kind "call"), "" otherwise
-- Derived keys: {P:Q}:call:<id> (kind "call": the new call's record, and the last one's)
-- Returns: {0, outcome, unlisted_or_wait}  outcome 1 fired, 2 skipped (overlap), 3 missed,
--   0 stale (fired already, changed or removed), 4 not due yet (third: ms until due);
--   unlisted 1 when the caller must add the queue to the registry (see enqueue)
-- Publishes: "work\n1" and wakes one idle worker when it fires
-- Counts: enqueued, in the queue's counters (include counters).
-- @include check_types
-- @include server_time
-- @include publish
-- @include wake
-- @include counters
-- @include call_record
local record, due, queue, unique, idle, listed = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local counters = KEYS[7]
local name, due_ms, rev, fire, next_due = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4] == "1", tonumber(ARGV[5])
local work_channel, call_id = ARGV[6], ARGV[7]
local LISTED_TTL = 60
local type_error = check_types({
  {record, "hash"}, {due, "zset"}, {queue, "list"}, {unique, "set"}, {idle, "zset"}, {listed, "string"},
})
if type_error then
  return type_error
end

local score = redis.call("ZSCORE", due, name)
if not score or tonumber(score) ~= due_ms or redis.call("HGET", record, "rev") ~= rev then
  return {0, 0, 0}
end
local now = server_time()
if due_ms > now then
  return {0, 4, due_ms - now}
end
redis.call("ZADD", due, next_due, name)
if not fire then
  redis.call("HINCRBY", record, "missed", 1)
  return {0, 3, 0}
end

local fields = redis.call("HMGET", record, "kind", "task", "overlap", "function", "result_ttl", "record_ttl",
  "last_call")
local kind, task, overlap = fields[1], fields[2], fields[3]
local tag = queue_tag(record)
if overlap == "skip" then
  local busy
  if kind == "call" then
    busy = fields[7] and fields[7] ~= "" and is_open(tag .. ":call:" .. fields[7])
  else
    busy = redis.call("SISMEMBER", unique, task) == 1
  end
  if busy then
    redis.call("HINCRBY", record, "skipped", 1)
    return {0, 2, 0}
  end
end

if kind == "call" then
  local payload = CALL_HEADER .. call_id .. "\n" .. fields[4] .. "\n\n" .. task
  local call = tag .. ":call:" .. call_id
  redis.call("HSET", call, "state", "queued", "function", fields[4], "caller", "", "attempts", 0,
    "enqueued_at", now, "ttl", fields[5], "key", "", "task", payload, "member", "")
  redis.call("PEXPIRE", call, tonumber(fields[6]))
  redis.call("HSET", record, "last_call", call_id)
  task = payload
elseif overlap == "skip" then
  redis.call("SADD", unique, task)
end
redis.call("RPUSH", queue, task)
count_change(counters, "enqueued", 1)
wake(idle, 1)
publish(work_channel, "work\n1")
redis.call("HSET", record, "last_due", due_ms, "fired_at", now)
redis.call("HINCRBY", record, "runs", 1)
local unlisted = redis.call("SET", listed, "1", "NX", "EX", LISTED_TTL) and 1 or 0
return {0, 1, unlisted}
