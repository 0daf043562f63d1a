-- groups: a stream's consumer groups and its live consumers (a read: it changes nothing).
--
-- Guarantees: a read of one moment (one script): nothing changes, and what it returns is
-- consistent with itself.
--
-- KEYS[1] messages   STREAM
-- KEYS[2] consumers  HASH    "<group>\n<worker id>" -> incarnation
-- Returns: {0, {XINFO GROUPS entry, ...}, {consumer field, ...}} (no groups: an empty list)
local groups = {}
if redis.call("TYPE", KEYS[1])["ok"] == "stream" then
  groups = redis.call("XINFO", "GROUPS", KEYS[1])
end
local consumers = {}
if redis.call("TYPE", KEYS[2])["ok"] == "hash" then
  consumers = redis.call("HKEYS", KEYS[2])
end
return {0, groups, consumers}
