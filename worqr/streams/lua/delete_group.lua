-- delete_group: remove a consumer group of a stream, with its position and pending list.
--
-- Guarantees: the group's consumers are told (their next take finds no group: {-7}); the
-- messages stay in the stream for the other groups. Idempotent.
--
-- KEYS[1] messages   STREAM
-- KEYS[2] consumers  HASH    "<group>\n<worker id>" -> incarnation
-- KEYS[3] meta       HASH    the stream's settings (a retaining stream drops what the
--                            groups left have all acknowledged)
-- ARGV[1] group
-- ARGV[2] channel            the stream's published channel
-- Returns: {0, deleted}  deleted: 1 if the group existed
-- Publishes: "published\n" on the channel, if it deleted one
-- @include check_types
-- @include publish
-- @include stream_group
-- @include stream_retain
local messages, consumers, meta, group, channel = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2]
local type_error = check_types({{messages, "stream"}, {consumers, "hash"}, {meta, "hash"}})
if type_error then
  return type_error
end
local prefix = group .. "\n"
for _, field in ipairs(redis.call("HKEYS", consumers)) do
  if string.sub(field, 1, #prefix) == prefix then
    redis.call("HDEL", consumers, field)
  end
end
if redis.call("EXISTS", messages) == 0 then
  return {0, 0}
end
local deleted = redis.call("XGROUP", "DESTROY", messages, group)
if deleted == 1 then
  trim_acked(messages, meta)
  publish(channel, "published\n")
end
return {0, deleted}
