-- declare_dead: move workers whose heartbeat is gone (or, forced, any) to the reaping set.
--
-- Guarantees: a worker leaves the live registry only here, atomically with losing its
-- heartbeat, so from then on it can neither heartbeat nor add queues; workers already in
-- the reaping set (a reaper died half-way) are returned again so their reaping completes.
--
-- KEYS[1] workers          SET     registered, live workers
-- KEYS[2] reaping          SET     workers being reaped
-- KEYS[3..] heartbeats     STRING  heartbeat key of each candidate, in ARGV order
-- ARGV[1] force                   "1" to declare the candidates dead even if alive
-- ARGV[2..] worker_ids            the candidates
-- Returns: {0, worker_id, ...}  every member of the reaping set
-- @include check_types
local workers, reaping = KEYS[1], KEYS[2]
local force = ARGV[1] == "1"
local type_error = check_types({{workers, "set"}, {reaping, "set"}})
if type_error then
  return type_error
end

for i = 2, #ARGV do
  local worker_id, heartbeat = ARGV[i], KEYS[i + 1]
  local registered = redis.call("SISMEMBER", workers, worker_id) == 1
  if registered and (force or redis.call("EXISTS", heartbeat) == 0) then
    redis.call("SMOVE", workers, reaping, worker_id)
    redis.call("DEL", heartbeat)
  end
end
local reply = {0}
for _, worker_id in ipairs(redis.call("SMEMBERS", reaping)) do
  reply[#reply + 1] = worker_id
end
return reply
