-- ack: a consumer acknowledges messages of its group (they are done: never delivered again).
--
-- Guarantees: a message is acknowledged only by the consumer it is pending under, and only
-- while the worker incarnation that joined the group is live in it: a zombie's late ack, or
-- an ack of a message that was handed to another consumer when this worker was reaped, is
-- refused (acked = 0 for it) and changes nothing. An id the group was never delivered
-- (after its last delivered id) is an error, and then nothing is acknowledged.
--
-- KEYS[1] messages   STREAM
-- KEYS[2] consumers  HASH    "<group>\n<worker id>" -> incarnation
-- KEYS[3] meta       HASH    the stream's settings (a retaining stream drops what every
--                            group acknowledged, in this script)
-- KEYS[4] counters   HASH    the stream's totals: "acked" counts the accepted acks
-- ARGV[1] group
-- ARGV[2] worker_id
-- ARGV[3] incarnation
-- ARGV[4..] ids
-- Returns: {0, {acked, ...}} acked: 1 or 0 per id | {-3} WORKER_LOST | {-7} UNKNOWN_GROUP
--   | {-8, id} UNKNOWN_MESSAGE
-- @include check_types
-- @include stream_group
-- @include stream_retain
local messages, consumers, meta, counters = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, worker_id, incarnation = ARGV[1], ARGV[2], ARGV[3]
local type_error = check_types({{messages, "stream"}, {consumers, "hash"}, {meta, "hash"}, {counters, "hash"}})
if type_error then
  return type_error
end
local last = last_delivered(messages, group)
if last == nil then
  return {-7}
end
for i = 4, #ARGV do
  if id_after(ARGV[i], last) then
    return {-8, ARGV[i]}
  end
end
if redis.call("HGET", consumers, group .. "\n" .. worker_id) ~= incarnation then
  return {-3}
end
local acked, total = {}, 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local mine = redis.call("XPENDING", messages, group, id, id, 1, worker_id)
  if mine[1] then
    acked[#acked + 1] = redis.call("XACK", messages, group, id)
    total = total + acked[#acked]
  else
    acked[#acked + 1] = 0
  end
end
if total > 0 then
  redis.call("HINCRBY", counters, "acked", total)
end
trim_acked(messages, meta)
return {0, acked}
