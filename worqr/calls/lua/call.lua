-- call: enqueue a call of a registered function: its task and its record, together.
--
-- Guarantees: the task and the call's record appear together, or nothing does; the record
-- says "queued" (or "scheduled" for a delayed call) until the task moves (see
-- include/call_record.lua). With a unique key, a call whose key is held by a live call
-- writes nothing and answers that call's id instead. Placing is idempotent by id: once the
-- call's record exists, running this again (a retry after a lost reply) writes nothing.
--
-- KEYS[1] queue      LIST    pending tasks, front = index 0
-- KEYS[2] idle       ZSET    workers idle on this queue (see the wake include)
-- KEYS[3] listed     STRING  set while the queue is in the queue registry (see enqueue)
-- KEYS[4] delayed    ZSET    tasks not due yet: "<n>:<payload>" scored by due time (ms)
-- KEYS[5] seq        STRING  the queue's counter (next_ids: numbers delayed entries)
-- KEYS[6] record     HASH    the call's record ({P:Q}:call:<id>)
-- KEYS[7] call-keys  HASH    unique key -> id of the live call that holds it
-- KEYS[8] counters   HASH    the queue's counters (include counters)
-- ARGV[1] work channel       the queue's work channel ({P:Q}:work)
-- ARGV[2] event channel      the queue's event channel
-- ARGV[3] id                 the call's id
-- ARGV[4] mode               "now", "in" (ARGV[5] is a delay in ms) or "at" (ms since the epoch)
-- ARGV[5] ms
-- ARGV[6] key                the call's unique key; "" for none
-- ARGV[7] result_ttl         ms the record is kept once the call ended
-- ARGV[8] record_ttl         ms the record is kept, at most, while the call has not ended
-- ARGV[9] function           the function's name
-- ARGV[10] caller            the caller's id (its notice channel)
-- ARGV[11] task              the call's payload (worqr/calls/envelope.py)
-- Derived keys: the record of the call that holds the key ({P:Q}:call:<its id>)
-- Returns: {0, id, unlisted} | {-2, id}  DUPLICATE: the live call that holds the key (its id)
-- Publishes: "work\n1" and wakes one idle worker, or "scheduled\n<due_in_ms>" when delayed
-- Counts: enqueued, in the queue's counters ({P:Q}:counters; include counters).
-- @include check_types
-- @include check_counter
-- @include next_ids
-- @include server_time
-- @include publish
-- @include wake
-- @include counters
local queue, idle, listed, delayed, seq, record, call_keys = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local counters = KEYS[8]
local work_channel, channel, id, mode, ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local key, result_ttl, record_ttl, name, caller, task = ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9], ARGV[10], ARGV[11]
local LISTED_TTL = 60
local type_error = check_types({
  {queue, "list"}, {idle, "zset"}, {listed, "string"}, {delayed, "zset"}, {seq, "string"}, {record, "hash"},
  {call_keys, "hash"},
}) or check_counter(seq)
if type_error then
  return type_error
end

if redis.call("EXISTS", record) == 1 then
  return {0, id, 0}  -- placed already (this is a retry)
end
if key ~= "" then
  local holder = redis.call("HGET", call_keys, key)
  if holder then
    local state = redis.call("HGET", string.sub(record, 1, #record - #id) .. holder, "state")
    if state and state ~= "succeeded" and state ~= "failed" and state ~= "cancelled" then
      return {-2, holder}
    end
  end
  redis.call("HSET", call_keys, key, id)
end

local now = server_time()
local state, member = "queued", ""
if mode == "now" then
  redis.call("RPUSH", queue, task)
  wake(idle, 1)
  publish(work_channel, "work\n1")
else
  local due = mode == "at" and ms or now + ms
  state = "scheduled"
  member = pad_number(next_ids(seq, 1)(1)) .. ":" .. task
  redis.call("ZADD", delayed, due, member)
  publish(channel, "scheduled\n" .. string.format("%d", math.max(0, due - now)))
end
redis.call("HSET", record, "state", state, "function", name, "caller", caller, "attempts", 0, "enqueued_at", now,
  "ttl", result_ttl, "key", key, "task", task, "member", member)
redis.call("PEXPIRE", record, record_ttl)
count_change(counters, "enqueued", 1)
local unlisted = redis.call("SET", listed, "1", "NX", "EX", LISTED_TTL) and 1 or 0
return {0, id, unlisted}
