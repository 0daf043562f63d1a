-- dequeue: move up to N tasks from the front of a queue into new processes of one worker,
-- after moving the queue's due delayed tasks to its back.
--
-- Guarantees: a task leaves the queue only into a process of a worker that is a member of
-- the queue's workers set, in the incarnation that joined it; a worker removed from it
-- (reaped, failed, stopped work), or a call of an earlier incarnation of the worker id that
-- Redis applies late, gets WORKER_LOST and nothing moves. Due delayed tasks join the back of the queue in due order,
-- each exactly once however many workers race. Process numbers are never reused within a
-- queue, not even after Redis lost data (next_ids).
--
-- KEYS[1] queue      LIST    pending tasks, front = index 0
-- KEYS[2] workers    SET     workers allowed to dequeue from this queue
-- KEYS[3] processes  HASH    this worker's processes on this queue: seq -> payload
-- KEYS[4] seq        STRING  the queue's counter (next_ids: numbers the processes)
-- KEYS[5] delayed    ZSET    tasks not due yet: "<n>:<payload>" scored by due time (ms)
-- KEYS[6] attempts   HASH    payload -> attempts that failed or were interrupted so far
-- KEYS[7] idle       ZSET    workers idle on this queue: this worker joins it when it takes
--                            fewer than count tasks, and leaves it when it takes count
-- KEYS[8] incarnations HASH  worker_id -> the token of its incarnation that joined
-- KEYS[9] paused     STRING  set while the queue is paused (operations/lua/pause.lua): then
--                            nothing is taken and the worker waits in the idle set
-- ARGV[1] channel            the queue's work channel ({P:Q}:work)
-- ARGV[2] worker_id
-- ARGV[3] count              most tasks to take (1 to MAX_TAKE: limits include)
-- ARGV[4] incarnation        the token of the worker's registration that sends this
-- Returns: {0, first_seq, {task...}, {attempts...}, next_due_in_ms} | {-3} WORKER_LOST
--   first_seq: the first task's process number, as a string (the others follow it by one);
--   0 when nothing was taken; attempts is empty when no task has any; next_due_in_ms is -1
--   when nothing is delayed.
-- Publishes: "work\n<n>" when more tasks became due than this call took, and wakes as many
--   other idle workers (wake include)
-- Derived keys: the record of a call task, and its caller's channel (include call_record).
-- @include limits
-- @include call_chunked
-- @include check_types
-- @include check_counter
-- @include next_ids
-- @include server_time
-- @include publish
-- @include wake
-- @include call_record
local queue, workers, processes, seq, delayed, attempts, idle = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local incarnations, paused = KEYS[8], KEYS[9]
local channel, worker_id, count, incarnation = ARGV[1], ARGV[2], math.min(tonumber(ARGV[3]), MAX_TAKE), ARGV[4]
local type_error = check_types({
  {queue, "list"}, {workers, "set"}, {processes, "hash"}, {seq, "string"}, {delayed, "zset"}, {attempts, "hash"}, {idle, "zset"},
  {incarnations, "hash"}, {paused, "string"},
}) or check_counter(seq)
if type_error then
  return type_error
end

if redis.call("SISMEMBER", workers, worker_id) == 0 or redis.call("HGET", incarnations, worker_id) ~= incarnation then
  return {-3}
end
if redis.call("EXISTS", paused) == 1 then
  redis.call("ZADD", idle, "NX", server_time(), worker_id)  -- resume wakes it
  return {0, 0, {}, {}, -1}
end

local next_due = -1
if redis.call("EXISTS", delayed) == 1 then
  local now = server_time()
  local due = redis.call("ZRANGE", delayed, "-inf", now, "BYSCORE", "LIMIT", 0, MAX_TAKE)
  if #due > 0 then
    local tasks = {}
    for i, entry in ipairs(due) do
      tasks[i] = string.sub(entry, string.find(entry, ":", 1, true) + 1)
    end
    call_chunked("RPUSH", queue, tasks, 1, #tasks)
    call_chunked("ZREM", delayed, due, 1, #due)
    for _, task in ipairs(tasks) do
      call_update(queue_tag(queue), task, "state", "queued")
    end
    if #due > count then
      redis.call("ZREM", idle, worker_id)  -- wake others: this worker is taking what it can
      wake(idle, #due - count)
      publish(channel, "work\n" .. (#due - count))
    end
  end
  local first = redis.call("ZRANGE", delayed, 0, 0, "WITHSCORES")
  if #first > 0 then
    next_due = math.max(0, tonumber(first[2]) - now)
  end
end

local tasks = redis.call("LPOP", queue, count)
if not tasks then
  redis.call("ZADD", idle, "NX", server_time(), worker_id)
  return {0, 0, {}, {}, next_due}
end
if #tasks < count then
  redis.call("ZADD", idle, "NX", server_time(), worker_id)
else
  redis.call("ZREM", idle, worker_id)
end
local id = next_ids(seq, #tasks)
for i, task in ipairs(tasks) do
  redis.call("HSET", processes, id(i), task)
end
local counts = {}
if redis.call("EXISTS", attempts) == 1 then
  counts = redis.call("HMGET", attempts, unpack(tasks))
  for i = 1, #tasks do
    counts[i] = tonumber(counts[i]) or 0
  end
end
local tag, started = queue_tag(queue), nil
for i, task in ipairs(tasks) do
  if is_call(task) then -- the server's clock is read only when a call is taken
    started = started or server_time()
    call_update(tag, task, "state", "running", "started_at", started, "worker", worker_id, "attempts", (counts[i] or 0) + 1)
  end
end
return {0, id(1), tasks, counts, next_due}
