-- publish: append messages to a stream, in order, and tell its subscribers.
--
-- Guarantees: every message is appended (in ARGV order, with ids that increase) or, if the
-- key holds something else, none is and nothing changes. With max_len, the stream keeps
-- its max_len newest messages (exact trimming, by the same XADD). One notice per call.
--
-- KEYS[1] messages  STREAM  the stream (field "d": the message's bytes)
-- ARGV[1] channel           the stream's published channel
-- ARGV[2] max_len           "" for none
-- ARGV[3..] data            the messages' bytes
-- Returns: {0, {id, ...}}
-- Publishes: "published\n<last id>" on the channel
-- @include check_types
-- @include publish
local messages, channel, max_len = KEYS[1], ARGV[1], ARGV[2]
local type_error = check_types({{messages, "stream"}})
if type_error then
  return type_error
end
local ids = {}
for i = 3, #ARGV do
  if max_len ~= "" then
    ids[#ids + 1] = redis.call("XADD", messages, "MAXLEN", "=", max_len, "*", "d", ARGV[i])
  else
    ids[#ids + 1] = redis.call("XADD", messages, "*", "d", ARGV[i])
  end
end
publish(channel, "published\n" .. ids[#ids])
return {0, ids}
