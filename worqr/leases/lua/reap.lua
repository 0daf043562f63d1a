-- reap: release a lease held by a worker that was declared dead (a step of reaping it, after
-- declare_dead and before forget_worker).
--
-- Guarantees: releases the lease only if the dead worker's declared incarnation holds it,
-- so a later incarnation's term, or another worker's, is left alone; the standbys are told
-- at once. Idempotent.
--
-- KEYS[1] holder   HASH    the lease's holder
-- ARGV[1] worker_id
-- ARGV[2] incarnation      the incarnation declared dead ("": any)
-- ARGV[3] channel          the lease's released channel
-- Returns: {0, released}  released: 1 if this call ended the term
-- Publishes: "released\n<token>" on the channel
-- @include publish
local holder, worker_id, incarnation, channel = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if redis.call("TYPE", holder)["ok"] ~= "hash" then
  return {0, 0}
end
local held = redis.call("HMGET", holder, "worker", "incarnation", "token")
if held[1] ~= worker_id or (incarnation ~= "" and held[2] ~= incarnation) then
  return {0, 0}
end
redis.call("DEL", holder)
publish(channel, "released\n" .. held[3])
return {0, 1}
