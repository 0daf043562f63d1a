-- trim: drop a stream's oldest messages, keeping at most max_len, or those from min_id on.
--
-- Guarantees: exact trimming (not "~"); a key of another type changes nothing. A trimmed
-- message still pending in a group is dropped from it when a consumer is next handed it.
--
-- KEYS[1] messages  STREAM
-- ARGV[1] how       "MAXLEN" or "MINID"
-- ARGV[2] bound     the length, or the id
-- Returns: {0, removed}
-- @include check_types
local messages, how, bound = KEYS[1], ARGV[1], ARGV[2]
local type_error = check_types({{messages, "stream"}})
if type_error then
  return type_error
end
return {0, redis.call("XTRIM", messages, how, "=", bound)}
