-- release: end a holder's term now and tell the standbys, so that one takes over at once.
--
-- Guarantees: only the term that holds the lease (its owner and token) releases it; a
-- release of a term already over changes nothing. Idempotent.
--
-- KEYS[1] holder   HASH    the lease's holder
-- ARGV[1] owner
-- ARGV[2] token
-- ARGV[3] channel          the lease's released channel
-- Returns: {0, released}  released: 1 if this call ended the term
-- Publishes: "released\n<token>" on the channel
-- @include publish
local holder, owner, token, channel = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if redis.call("TYPE", holder)["ok"] ~= "hash" then
  return {0, 0}
end
local held = redis.call("HMGET", holder, "owner", "token")
if held[1] ~= owner or held[2] ~= token then
  return {0, 0}
end
redis.call("DEL", holder)
publish(channel, "released\n" .. token)
return {0, 1}
