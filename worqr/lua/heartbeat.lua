-- heartbeat: keep a worker alive for another timeout, if it still is.
--
-- Guarantees: a heartbeat never revives a worker whose key expired or was deleted: that
-- worker has been (or is about to be) declared dead and gets WORKER_LOST.
--
-- KEYS[1] heartbeat  STRING  the worker's heartbeat key
-- ARGV[1] timeout_ms        heartbeat lifetime; "0" for a permanent worker
-- Returns: {0} | {-3} WORKER_LOST
local heartbeat, timeout_ms = KEYS[1], tonumber(ARGV[1])
if redis.call("EXISTS", heartbeat) == 0 then
  return {-3}
end
if timeout_ms > 0 then
  redis.call("PEXPIRE", heartbeat, timeout_ms)
end
return {0}
