-- requeue_dead: move dead letters back to the back of their queue for new attempts.
--
-- Guarantees: each named dead letter (or every one, oldest first, when no id is given) is
-- appended to the queue exactly once and removed from the dead letters in the same step;
-- ids that are not dead letters (any more) are skipped. The attempt count starts afresh.
--
-- KEYS[1] dead   HASH  dead letters: id -> envelope (see fail)
-- KEYS[2] queue  LIST  pending tasks, front = index 0
-- KEYS[3] idle   ZSET  workers idle on this queue (see the wake include)
-- KEYS[4] counters HASH  the queue's counters (include counters)
-- ARGV[1] channel      the queue's work channel ({P:Q}:work)
-- ARGV[2..] ids        dead letter ids; none: all of them
-- Returns: {0, requeued}
-- Publishes: "work\n<requeued>" when anything was requeued, and wakes as many idle workers
-- Counts: requeued, in the queue's counters ({P:Q}:counters; include counters).
-- @include by_number
-- @include call_chunked
-- @include check_types
-- @include publish
-- @include wake
-- @include counters
local dead, queue, idle = KEYS[1], KEYS[2], KEYS[3]
local counters = KEYS[4]
local channel = ARGV[1]
local type_error = check_types({{dead, "hash"}, {queue, "list"}, {idle, "zset"}})
if type_error then
  return type_error
end

local ids = {}
if #ARGV > 1 then
  for i = 2, #ARGV do
    ids[#ids + 1] = ARGV[i]
  end
else
  ids = redis.call("HKEYS", dead)
  table.sort(ids, by_number)
end

-- The payload follows 5 header lines and a message whose length the 5th line gives.
local function payload_of(envelope)
  local at = 0
  local fields = {}
  for _ = 1, 5 do
    local stop = string.find(envelope, "\n", at + 1, true)
    fields[#fields + 1] = string.sub(envelope, at + 1, stop - 1)
    at = stop
  end
  return string.sub(envelope, at + 1 + tonumber(fields[5]))
end

local tasks, found, seen = {}, {}, {}
for _, id in ipairs(ids) do
  local envelope = not seen[id] and redis.call("HGET", dead, id)
  if envelope then
    tasks[#tasks + 1] = payload_of(envelope)
    found[#found + 1] = id
    seen[id] = true
  end
end
if #tasks > 0 then
  call_chunked("RPUSH", queue, tasks, 1, #tasks)
  call_chunked("HDEL", dead, found, 1, #found)
  count_change(counters, "requeued", #tasks)
  wake(idle, #tasks)
  publish(channel, "work\n" .. #tasks)
end
return {0, #tasks}
