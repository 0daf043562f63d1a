-- dequeue: move up to N tasks from the front of a queue into new processes of one worker.
--
-- Guarantees: a task leaves the queue only into a process of a worker that is a member of
-- the queue's workers set; a worker removed from it (reaped, failed, stopped work) gets
-- WORKER_LOST and nothing moves. Process numbers are never reused within a queue.
--
-- KEYS[1] queue      LIST    pending tasks, front = index 0
-- KEYS[2] workers    SET     workers allowed to dequeue from this queue
-- KEYS[3] processes  HASH    this worker's processes on this queue: seq -> payload
-- KEYS[4] seq        STRING  the queue's process counter
-- ARGV[1] worker_id
-- ARGV[2] count             most tasks to take
-- Returns: {0} (queue empty) | {0, first_seq, task1, task2, ...} | {-3} WORKER_LOST
-- @include check_types
local queue, workers, processes, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local worker_id, count = ARGV[1], tonumber(ARGV[2])
local type_error = check_types({{queue, "list"}, {workers, "set"}, {processes, "hash"}, {seq, "string"}})
if type_error then
  return type_error
end

local counter = redis.call("GET", seq)
if counter and not tonumber(counter) then
  return redis.error_reply("worqr key " .. seq .. " does not hold a number: something other than worqr wrote it; nothing was changed")
end

if redis.call("SISMEMBER", workers, worker_id) == 0 then
  return {-3}
end
local tasks = redis.call("LPOP", queue, count)
if not tasks then
  return {0}
end
local last = redis.call("INCRBY", seq, #tasks)
local first = last - #tasks + 1
local reply = {0, first}
for i, task in ipairs(tasks) do
  redis.call("HSET", processes, first + i - 1, task)
  reply[i + 2] = task
end
return reply
