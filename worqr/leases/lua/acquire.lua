-- acquire: make a contender the holder of a lease, with a new fencing token, if nobody
-- holds it (or only this contender's own earlier term does).
--
-- Guarantees: at most one holder at a time by the server's clock: the holder hash expires
-- ttl_ms after this script ran (PEXPIRE, server time). Every new holder gets a token
-- greater than every token issued before for this name: the counter never expires and is
-- never reset, so a holder that crashed never sees its token given again. A retry of the
-- same attempt (its reply lost to a broken connection) finds its own hold and gets the same
-- token and time back: idempotent.
--
-- KEYS[1] holder   HASH    worker, owner, token, attempt, incarnation, acquired_at, ttl_ms
-- KEYS[2] token    STRING  the last token issued for the name
-- ARGV[1] worker_id
-- ARGV[2] incarnation      the worker's registration (a reap releases only its own)
-- ARGV[3] owner            the contender (one Lease object)
-- ARGV[4] attempt          this acquire, unique
-- ARGV[5] ttl_ms
-- Returns: {0, token, acquired_at_ms} now held | {-5, holder_worker, pttl_ms} LEASE_BUSY
-- @include check_types
-- @include server_time
local holder, counter = KEYS[1], KEYS[2]
local worker_id, incarnation, owner, attempt, ttl_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local type_error = check_types({{holder, "hash"}, {counter, "string"}})
if type_error then
  return type_error
end
local held = redis.call("HMGET", holder, "owner", "attempt", "token", "acquired_at", "worker")
if held[1] then
  if held[1] == owner and held[2] == attempt then
    return {0, tonumber(held[3]), tonumber(held[4])}
  end
  if held[1] ~= owner then
    return {-5, held[5], redis.call("PTTL", holder)}
  end
end
local token = redis.call("INCR", counter)
local now = server_time()
redis.call("DEL", holder)
redis.call("HSET", holder, "worker", worker_id, "owner", owner, "token", token, "attempt", attempt,
  "incarnation", incarnation, "acquired_at", now, "ttl_ms", ttl_ms)
redis.call("PEXPIRE", holder, ttl_ms)
return {0, token, now}
