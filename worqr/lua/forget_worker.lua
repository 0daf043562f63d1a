-- forget_worker: drop a reaped worker for good (last step of reaping).
--
-- Guarantees: a worker is forgotten only while it is being reaped and only once every queue
-- in its queues set was released by leave_queue (the reaper names the queues it released;
-- a queue it did not release keeps the worker in the reaping set, for a later pass). A stale
-- reaper, whose worker was already forgotten and has registered again, changes nothing, so
-- the new incarnation's queue list survives. Idempotent; exactly one of several racing
-- reapers sees forgotten = 1. The queues released are kept in the worker's record (field
-- "queues", a JSON list), so an ended worker is shown with the queues it worked.
--
-- KEYS[1] reaping    SET   workers being reaped
-- KEYS[2] queues_of  SET   queues the worker worked on
-- KEYS[3] record     HASH  the worker's record ({P}:worker:<W>), if it has one (a record of
--                          another type is left alone: it must not keep a worker from being reaped)
-- KEYS[4] leases_of  SET   names of the leases the worker contended for (the reaper released
--                          them before; dropped with the worker)
-- KEYS[5] streams_of SET   names of the streams the worker consumed (the reaper handed its
--                          pending messages on before; dropped with the worker)
-- ARGV[1] worker_id
-- ARGV[2..] queues         the queues this reap released with leave_queue
-- Returns: {0, forgotten, left}  forgotten: 1 if this call removed the worker from the
--   reaping set; left: queues still to release (the reap goes on with them)
-- @include check_types
local reaping, queues_of, record, leases_of, streams_of = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local worker_id = ARGV[1]
local type_error = check_types({{reaping, "set"}, {queues_of, "set"}})
if type_error then
  return type_error
end
if redis.call("SISMEMBER", reaping, worker_id) == 0 then
  return {0, 0, 0}
end
for i = 2, #ARGV, 1000 do
  redis.call("SREM", queues_of, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if #ARGV > 1 and redis.call("TYPE", record)["ok"] == "hash" then  -- a clobbered record is passed over
  local worked, seen = {}, {}
  local before = redis.call("HGET", record, "queues")
  if before then
    worked = cjson.decode(before)
  end
  for _, queue in ipairs(worked) do
    seen[queue] = true
  end
  for i = 2, #ARGV do
    if not seen[ARGV[i]] then
      worked[#worked + 1], seen[ARGV[i]] = ARGV[i], true
    end
  end
  redis.call("HSET", record, "queues", cjson.encode(worked))
end
local left = redis.call("SCARD", queues_of)
if left > 0 then
  return {0, 0, left}
end
redis.call("SREM", reaping, worker_id)
redis.call("DEL", leases_of, streams_of)
return {0, 1, 0}
