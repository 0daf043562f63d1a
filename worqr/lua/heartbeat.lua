-- heartbeat: keep a worker alive for another timeout, if it still is, and say whether a
-- peer's heartbeat has run out (so that the caller reaps it now, not at its next sweep).
--
-- Guarantees: a heartbeat never revives a worker whose key expired or was deleted: that
-- worker has been (or is about to be) declared dead and gets WORKER_LOST. The deadlines
-- set is a hint kept beside the heartbeats: each heartbeat records when its own runs out
-- (by the server's clock), and the reply says whether any recorded deadline has passed;
-- declare_dead, which decides from the heartbeat keys alone, corrects the hint. A deadlines
-- key that something else overwrote is left alone: the hint is skipped, the heartbeat never
-- fails for it.
--
-- KEYS[1] heartbeat  STRING  the worker's heartbeat key
-- KEYS[2] deadlines  ZSET    worker -> when its heartbeat runs out (server ms); a hint
-- ARGV[1] timeout_ms        heartbeat lifetime; "0" for a permanent worker
-- ARGV[2] worker_id
-- Returns: {0, overdue} | {-3} WORKER_LOST  overdue: 1 if a worker's deadline has passed
-- @include server_time
local heartbeat, deadlines, timeout_ms, worker_id = KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2]
if redis.call("EXISTS", heartbeat) == 0 then
  return {-3}
end
if timeout_ms > 0 then
  redis.call("PEXPIRE", heartbeat, timeout_ms)
end
local kind = redis.call("TYPE", deadlines)["ok"]
if kind ~= "zset" and kind ~= "none" then
  return {0, 0}
end
local now = server_time()
if timeout_ms > 0 then
  redis.call("ZADD", deadlines, now + timeout_ms, worker_id)
else
  redis.call("ZREM", deadlines, worker_id)
end
local overdue = redis.call("ZRANGE", deadlines, "-inf", now, "BYSCORE", "LIMIT", 0, 1)
return {0, #overdue > 0 and 1 or 0}
