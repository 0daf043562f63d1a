-- pending: the messages of a group delivered and not yet acknowledged, oldest first (a read:
-- it changes nothing).
--
-- Guarantees: a read of one moment (one script): nothing changes, and what it returns is
-- consistent with itself.
--
-- KEYS[1] messages  STREAM
-- ARGV[1] group
-- ARGV[2] count     at most this many
-- Returns: {0, {{id, consumer, idle_ms, deliveries}, ...}} | {-7} UNKNOWN_GROUP
-- @include stream_group
local pending = redis.pcall("XPENDING", KEYS[1], ARGV[1], "-", "+", tonumber(ARGV[2]))
if no_group(pending) then
  return {-7}
end
return {0, pending}
