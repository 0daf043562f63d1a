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
-- ARGV[4..] ids              in stream order (the client sorts them)
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
if id_after(ARGV[#ARGV], last) then  -- sorted: the greatest id is the last
  for i = 4, #ARGV do
    if id_after(ARGV[i], last) then
      return {-8, ARGV[i]}
    end
  end
end
if redis.call("HGET", consumers, group .. "\n" .. worker_id) ~= incarnation then
  return {-3}
end
-- What this consumer holds between the smallest and the greatest id given, read in pages:
-- one XPENDING for a batch rather than one per id.
local high = ARGV[#ARGV]
local held, from = {}, ARGV[4]
while true do
  local page = redis.call("XPENDING", messages, group, from, high, 1000, worker_id)
  for _, entry in ipairs(page) do
    held[entry[1]] = true
  end
  if #page < 1000 then
    break
  end
  from = "(" .. page[#page][1]
end
local acked, mine = {}, {}
for i = 4, #ARGV do
  if held[ARGV[i]] then
    held[ARGV[i]] = nil  -- an id given twice is acknowledged once
    mine[#mine + 1] = ARGV[i]
    acked[#acked + 1] = 1
  else
    acked[#acked + 1] = 0
  end
end
if #mine > 0 then
  for i = 1, #mine, 1000 do
    redis.call("XACK", messages, group, unpack(mine, i, math.min(i + 999, #mine)))
  end
  redis.call("HINCRBY", counters, "acked", #mine)
end
trim_acked(messages, meta)
return {0, acked}
