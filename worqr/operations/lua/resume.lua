-- resume: hand out a paused queue's tasks again.
--
-- Guarantees: the flag goes and the workers idle on the queue are woken in the same script,
-- as many as there are tasks waiting (at least one, for the delayed tasks now due), so a
-- drain picks up again without a restart. Idempotent.
--
-- KEYS[1] paused  STRING  set while the queue is paused
-- KEYS[2] queue   LIST    pending tasks
-- KEYS[3] idle    ZSET    workers idle on this queue (see the wake include)
-- ARGV[1] work channel    the queue's work channel ({P:Q}:work)
-- Returns: {0, was_paused}  1 if it was paused
-- Publishes: "work\n<n>" (n tasks waiting) and wakes as many idle workers
-- @include check_types
-- @include publish
-- @include wake
local paused, queue, idle, work_channel = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local type_error = check_types({{paused, "string"}, {queue, "list"}, {idle, "zset"}})
if type_error then
  return type_error
end
local was = redis.call("DEL", paused)
local waiting = math.max(1, redis.call("LLEN", queue))
wake(idle, waiting)
publish(work_channel, "work\n" .. waiting)
return {0, was}
