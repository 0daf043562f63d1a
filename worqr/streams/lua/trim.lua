-- trim: drop a stream's oldest messages, keeping at most max_len, or those from min_id on.
--
-- Guarantees: exact trimming (not "~"); a key of another type changes nothing. A trimmed
-- message still pending in a group is dropped from it when a consumer is next handed it. A
-- stream that retains until acked keeps every message some group has not acknowledged.
--
-- KEYS[1] messages  STREAM
-- KEYS[2] meta      HASH    the stream's settings
-- ARGV[1] how       "MAXLEN" or "MINID"
-- ARGV[2] bound     the length, or the id
-- Returns: {0, removed}
-- @include check_types
-- @include stream_group
-- @include stream_retain
local messages, meta, how, bound = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local type_error = check_types({{messages, "stream"}, {meta, "hash"}})
if type_error then
  return type_error
end
if how == "MAXLEN" then
  return {0, trim_length(messages, meta, bound)}
end
return {0, trim_before(messages, meta, bound)}
