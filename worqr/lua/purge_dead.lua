-- purge_dead: drop dead letters for good.
--
-- Guarantees: the named dead letters (all of them when no id is given) are gone; nothing
-- else of the queue changes.
--
-- KEYS[1] dead  HASH  dead letters: id -> envelope (see fail)
-- ARGV[1..] ids       dead letter ids; none: all of them
-- Returns: {0, removed}
-- @include check_types
local dead = KEYS[1]
local type_error = check_types({{dead, "hash"}})
if type_error then
  return type_error
end
if #ARGV == 0 then
  local removed = redis.call("HLEN", dead)
  redis.call("DEL", dead)
  return {0, removed}
end
local removed = 0
for i = 1, #ARGV, 1000 do
  removed = removed + redis.call("HDEL", dead, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return {0, removed}
