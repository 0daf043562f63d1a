-- pause: pause a queue: it goes on taking tasks, and hands none out until resume.
--
-- Guarantees: once this returns, no dequeue hands out a task of the queue (dequeue checks
-- the flag in the same script that would take one); tasks already in processes go on.
-- Idempotent.
--
-- KEYS[1] paused  STRING  set while the queue is paused
-- Returns: {0, was_paused}  1 if it was paused already
-- @include check_types
local paused = KEYS[1]
local type_error = check_types({{paused, "string"}})
if type_error then
  return type_error
end
local was = redis.call("EXISTS", paused)
redis.call("SET", paused, "1")
return {0, was}
