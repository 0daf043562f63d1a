-- forget_worker: drop a reaped worker for good (last step of reaping).
--
-- Guarantees: run only after leave_queue ran on every queue of the worker; idempotent, and
-- exactly one of several racing reapers sees forgotten = 1.
--
-- KEYS[1] reaping    SET  workers being reaped
-- KEYS[2] queues_of  SET  queues the worker worked on
-- ARGV[1] worker_id
-- Returns: {0, forgotten}  1 if this call removed the worker from the reaping set
-- @include check_types
local type_error = check_types({{KEYS[1], "set"}, {KEYS[2], "set"}})
if type_error then
  return type_error
end
local forgotten = redis.call("SREM", KEYS[1], ARGV[1])
redis.call("DEL", KEYS[2])
return {0, forgotten}
