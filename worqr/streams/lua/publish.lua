-- publish: append messages to a stream, in order, and tell its subscribers.
--
-- Guarantees: every message is appended (in ARGV order, with ids that increase) or, if the
-- key holds something else, none is and nothing changes. With max_len, the stream keeps
-- its max_len newest messages (exact trimming), except that a stream that retains until
-- acked keeps every message some group has not acknowledged. One notice per call.
--
-- KEYS[1] messages  STREAM  the stream (field "d": the message's bytes)
-- KEYS[2] meta      HASH    the stream's settings ("retain": "1" until every group acked)
-- KEYS[3] counters  HASH    the stream's totals: "published" counts these
-- ARGV[1] channel           the stream's published channel
-- ARGV[2] max_len           "" for none
-- ARGV[3] partitions        the stream's partitions ("0": not ordered); the first call records
--                           it, a call that disagrees is refused
-- ARGV[4..] data            the messages' bytes
-- Returns: {0, {id, ...}} | {-9, partitions} PARTITIONS (the stream has that many)
-- Publishes: "published\n<last id>" on the channel
-- @include check_types
-- @include publish
-- @include stream_group
-- @include stream_retain
local messages, meta, counters, channel, max_len, partitions = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3]
local type_error = check_types({{messages, "stream"}, {meta, "hash"}, {counters, "hash"}})
if type_error then
  return type_error
end
local refused = settle_partitions(meta, partitions)
if refused then
  return refused
end
local ids = {}
local retain = retains(meta)
for i = 4, #ARGV do
  if max_len ~= "" and not retain then
    ids[#ids + 1] = redis.call("XADD", messages, "MAXLEN", "=", max_len, "*", "d", ARGV[i])
  else
    ids[#ids + 1] = redis.call("XADD", messages, "*", "d", ARGV[i])
  end
end
if max_len ~= "" and retain then
  trim_length(messages, meta, max_len)
end
redis.call("HINCRBY", counters, "published", #ids)
publish(channel, "published\n" .. ids[#ids])
return {0, ids}
