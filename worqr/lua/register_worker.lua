-- register_worker: register a worker and start its heartbeat (start_worker).
--
-- Guarantees: a worker id that is still registered, or still being reaped, is refused
-- (WORKER_KNOWN, with the lease left on its heartbeat), so a worker reusing an id never
-- inherits processes: the client waits the lease out or reaps the old incarnation first.
-- The heartbeat expires by server time. The worker's record is written anew (the fields
-- given, and started_at by server time), so it describes this incarnation.
--
-- KEYS[1] workers    SET     registered, live workers
-- KEYS[2] reaping    SET     workers being reaped
-- KEYS[3] heartbeat  STRING  the worker's heartbeat key
-- KEYS[4] record     HASH    the worker's record ({P}:worker:<W>)
-- ARGV[1] worker_id
-- ARGV[2] timeout_ms        heartbeat lifetime; "0" for a permanent worker
-- ARGV[3..] field, value    the record's fields (host, pid, version, timeout_ms, ...)
-- Derived keys: the deadlines hint ({P}:deadlines, see heartbeat.lua): the heartbeat's
--   deadline, so that peers reap at once a worker that dies before its first heartbeat
-- Returns: {0} | {-4, lease_ms} WORKER_KNOWN  (PTTL of the heartbeat: -1 no expiry, -2 gone)
-- @include check_types
-- @include server_time
local workers, reaping, heartbeat, record = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local worker_id, timeout_ms = ARGV[1], tonumber(ARGV[2])
local type_error = check_types({{workers, "set"}, {reaping, "set"}, {heartbeat, "string"}, {record, "hash"}})
if type_error then
  return type_error
end

if redis.call("SISMEMBER", workers, worker_id) == 1 or redis.call("SISMEMBER", reaping, worker_id) == 1 then
  return {-4, redis.call("PTTL", heartbeat)}
end
redis.call("SADD", workers, worker_id)
if timeout_ms > 0 then
  redis.call("SET", heartbeat, "1", "PX", timeout_ms)
else
  redis.call("SET", heartbeat, "1")
end
redis.call("DEL", record)
redis.call("HSET", record, "started_at", server_time(), unpack(ARGV, 3, #ARGV))
local deadlines = string.sub(workers, 1, string.find(workers, "}", 1, true)) .. ":deadlines"
local hint = redis.call("TYPE", deadlines)["ok"]
if timeout_ms > 0 and (hint == "zset" or hint == "none") then  -- a worker that dies before its first heartbeat
  redis.call("ZADD", deadlines, server_time() + timeout_ms, worker_id)
end
return {0}
