-- renew: extend a holder's lease by its ttl, from now (server time).
--
-- Guarantees: only the term that holds the lease (its owner and token) renews it; a term
-- whose lease expired or passed to another finds it lost and changes nothing. Idempotent.
--
-- KEYS[1] holder   HASH    the lease's holder
-- ARGV[1] owner
-- ARGV[2] token
-- ARGV[3] ttl_ms
-- Returns: {0} | {-6} LEASE_LOST
local holder, owner, token, ttl_ms = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if redis.call("TYPE", holder)["ok"] ~= "hash" then
  return {-6}
end
local held = redis.call("HMGET", holder, "owner", "token")
if held[1] ~= owner or held[2] ~= token then
  return {-6}
end
redis.call("PEXPIRE", holder, ttl_ms)
return {0}
