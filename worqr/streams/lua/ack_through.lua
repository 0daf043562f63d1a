-- ack_through: a consumer acknowledges every message of its group pending under it up to
-- and including `id` (busmq's cumulative ack).
--
-- Guarantees: as ack: only this consumer's pending messages, only while its worker
-- incarnation is live in the group; a refused call changes nothing. An id after the group's
-- last delivered id is an error.
--
-- KEYS[1] messages   STREAM
-- KEYS[2] consumers  HASH    "<group>\n<worker id>" -> incarnation
-- KEYS[3] meta       HASH    the stream's settings (a retaining stream drops what every
--                            group acknowledged, in this script)
-- KEYS[4] counters   HASH    the stream's totals: "acked" counts the accepted acks
-- ARGV[1] group
-- ARGV[2] worker_id
-- ARGV[3] incarnation
-- ARGV[4] id
-- Returns: {0, acked} | {-3} WORKER_LOST | {-7} UNKNOWN_GROUP | {-8, id} UNKNOWN_MESSAGE
-- @include check_types
-- @include stream_group
-- @include stream_retain
local messages, consumers, meta, counters = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, worker_id, incarnation, through = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local type_error = check_types({{messages, "stream"}, {consumers, "hash"}, {meta, "hash"}, {counters, "hash"}})
if type_error then
  return type_error
end
local last = last_delivered(messages, group)
if last == nil then
  return {-7}
end
if id_after(through, last) then
  return {-8, through}
end
if redis.call("HGET", consumers, group .. "\n" .. worker_id) ~= incarnation then
  return {-3}
end
local acked = 0
while true do
  local pending = redis.call("XPENDING", messages, group, "-", through, 1000, worker_id)
  if not pending[1] then
    break
  end
  local ids = {}
  for _, entry in ipairs(pending) do
    ids[#ids + 1] = entry[1]
  end
  acked = acked + redis.call("XACK", messages, group, unpack(ids))
end
if acked > 0 then
  redis.call("HINCRBY", counters, "acked", acked)
end
trim_acked(messages, meta)
return {0, acked}
