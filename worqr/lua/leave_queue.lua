-- leave_queue: requeue all of a worker's processes on a queue and stop it dequeuing there.
-- Used by stop_work, fail_worker and the reaper.
--
-- Guarantees: the worker's processes go back to the front of the queue in the order they
-- were dequeued (the earliest first), and the worker can no longer dequeue from the queue;
-- idempotent, so several reapers may race. When the worker was interrupted (it died or was
-- declared dead), each requeued task's attempt count goes up by one, so a task that kills
-- every worker that runs it ends in the dead letters instead of going round forever.
--
-- KEYS[1] workers    SET   workers allowed to dequeue from this queue
-- KEYS[2] processes  HASH  the worker's processes on this queue: seq -> payload
-- KEYS[3] queue      LIST  pending tasks, front = index 0
-- KEYS[4] attempts   HASH  payload -> attempts that failed or were interrupted so far
-- KEYS[5] idle       ZSET  workers idle on this queue (see the wake include); the worker leaves it
-- KEYS[6] incarnations HASH worker_id -> its incarnation that joined (the worker's entry goes)
-- ARGV[1] channel          the queue's work channel ({P:Q}:work)
-- ARGV[2] worker_id
-- ARGV[3] interrupted      "1": count an attempt for each requeued task; "0": a clean leave
-- ARGV[4] incarnation      a reaper's: the incarnation declared dead. If another incarnation of
--                          the worker joined the queue since (it registered again while a slow
--                          reaper was still at work), nothing changes: its processes, its
--                          place in the workers and idle sets are the new incarnation's.
--                          "" (or absent): whatever incarnation joined.
-- Returns: {0, requeued}
-- Publishes: "work\n<requeued>" when anything was requeued, and wakes as many idle workers
-- Derived keys: the record of a call task, and its caller's channel (include call_record).
-- @include call_chunked
-- @include by_number
-- @include check_types
-- @include publish
-- @include wake
-- @include server_time
-- @include call_record
local workers, processes, queue, attempts, idle, incarnations = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local channel, worker_id, interrupted, ending = ARGV[1], ARGV[2], ARGV[3] == "1", ARGV[4] or ""
local type_error = check_types({
  {workers, "set"}, {processes, "hash"}, {queue, "list"}, {attempts, "hash"}, {idle, "zset"}, {incarnations, "hash"},
})
if type_error then
  return type_error
end
if ending ~= "" then
  local joined = redis.call("HGET", incarnations, worker_id)
  if joined and joined ~= ending then
    return {0, 0}  -- a later incarnation's queue: a stale reaper changes nothing
  end
end

local flat = redis.call("HGETALL", processes)
local entries = {}
for i = 1, #flat, 2 do
  entries[#entries + 1] = {flat[i], flat[i + 1]}
end
table.sort(entries, function(a, b) return by_number(a[1], b[1]) end)  -- in dequeue order
-- LPUSH a b c leaves c at the front, so push the latest first: the earliest ends in front.
local tasks = {}
for i = #entries, 1, -1 do
  tasks[#tasks + 1] = entries[i][2]
end
if interrupted then
  for _, task in ipairs(tasks) do
    local previous = redis.call("HGET", attempts, task)
    if previous and not tonumber(previous) then
      return redis.error_reply("worqr key " .. attempts .. " holds a count that is not a number; nothing was changed")
    end
  end
  for _, task in ipairs(tasks) do
    redis.call("HINCRBY", attempts, task, 1)
  end
end
if #tasks > 0 then
  call_chunked("LPUSH", queue, tasks, 1, #tasks)
  redis.call("DEL", processes)
  for _, task in ipairs(tasks) do
    call_update(queue_tag(queue), task, "state", "queued")
  end
  wake(idle, #tasks)
  publish(channel, "work\n" .. #tasks)
end
redis.call("SREM", workers, worker_id)
redis.call("ZREM", idle, worker_id)
return {0, #tasks}
