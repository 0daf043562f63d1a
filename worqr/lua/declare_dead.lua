-- declare_dead: move workers whose heartbeat is gone (or, forced, any) to the reaping set.
--
-- Guarantees: a worker leaves the live registry only here, atomically with losing its
-- heartbeat, so from then on it can neither heartbeat nor add queues; workers already in
-- the reaping set (a reaper died half-way) are returned again so their reaping completes.
-- A declared worker's record gets ended_at (server time) and ended_by ("expired": its
-- heartbeat had expired, so a peer reaped it; "declared": declared dead while its heartbeat
-- lived: a clean leave, or a forced reap) and is kept one more day, so that operators see
-- it as reaped rather than vanished.
--
-- KEYS[1] workers          SET     registered, live workers
-- KEYS[2] reaping          SET     workers being reaped
-- KEYS[3..] heartbeats     STRING  heartbeat key of each candidate, in ARGV order
-- ARGV[1] force                   "1" to declare the candidates dead even if alive
-- ARGV[2..] worker_ids            the candidates
-- Returns: {0, worker_id, incarnation, ...}  every member of the reaping set, with the
--   incarnation its record names ("" if none: a worker of an older worqr). A member's
--   record is the declared incarnation's: it registers again only once forgotten, so a
--   reaper hands this to leave_queue, which then cannot touch a later incarnation.
-- Derived keys: each declared worker's record ({P}:worker:<W>) and the ended set ({P}:ended,
--   ZSET: worker -> when it was declared dead, the last day's), from the registry's tag; and
--   the deadlines hint ({P}:deadlines, see heartbeat.lua), corrected here: a declared or
--   unregistered worker leaves it, a live candidate's deadline is set from its heartbeat's
--   ttl, so that a hint never asks for sweeps that find nothing (left alone if something
--   else overwrote the key)
-- @include check_types
-- @include server_time
local workers, reaping = KEYS[1], KEYS[2]
local force = ARGV[1] == "1"
local RECORD_KEPT_MS = 86400000
local type_error = check_types({{workers, "set"}, {reaping, "set"}})
if type_error then
  return type_error
end

local tag = string.sub(workers, 1, string.find(workers, "}", 1, true))
local deadlines = tag .. ":deadlines"
local hint = redis.call("TYPE", deadlines)["ok"]
hint = hint == "zset" or hint == "none"
for i = 2, #ARGV do
  local worker_id, heartbeat = ARGV[i], KEYS[i + 1]
  local registered = redis.call("SISMEMBER", workers, worker_id) == 1
  local expired = registered and redis.call("EXISTS", heartbeat) == 0
  local declared = registered and (force or expired)
  if hint then
    local ttl = (registered and not declared) and redis.call("PTTL", heartbeat) or -2
    if ttl > 0 then
      redis.call("ZADD", deadlines, server_time() + ttl, worker_id)
    else
      redis.call("ZREM", deadlines, worker_id)
    end
  end
  if declared then
    redis.call("SMOVE", workers, reaping, worker_id)
    redis.call("DEL", heartbeat)
    local record, now = tag .. ":worker:" .. worker_id, server_time()
    if redis.call("EXISTS", record) == 1 then
      redis.call("HSET", record, "ended_at", now, "ended_by", expired and "expired" or "declared")
      redis.call("PEXPIRE", record, RECORD_KEPT_MS)
    end
    redis.call("ZADD", tag .. ":ended", now, worker_id)
    redis.call("ZREMRANGEBYSCORE", tag .. ":ended", "-inf", now - RECORD_KEPT_MS)
  end
end
if hint then  -- overdue deadlines of workers no longer registered (none, but never a loop of sweeps)
  for _, worker_id in ipairs(redis.call("ZRANGE", deadlines, "-inf", server_time(), "BYSCORE")) do
    if redis.call("SISMEMBER", workers, worker_id) == 0 then
      redis.call("ZREM", deadlines, worker_id)
    end
  end
end
local reply = {0}
for _, worker_id in ipairs(redis.call("SMEMBERS", reaping)) do
  reply[#reply + 1] = worker_id
  reply[#reply + 1] = redis.call("HGET", tag .. ":worker:" .. worker_id, "incarnation") or ""
end
return reply
