-- take: hand a consumer of a group up to `count` messages: first the messages that reaped
-- workers of the group left pending (delivered again), then new ones, in stream order.
--
-- Guarantees: only the worker incarnation that joined the group takes messages (a worker
-- declared dead takes nothing: {-3}), so a zombie can never hold a message its peers will not
-- hand on. A message stays pending under its consumer until it is acknowledged or the
-- consumer's worker is reaped: it is never delivered again while that worker lives. A
-- message already delivered max_deliveries times is not delivered again: it goes to the
-- stream's dead letters (with its group, deliveries and the reason) and is acknowledged, in
-- this script. A reaped worker's message that was trimmed meanwhile is dropped from the
-- pending list (XCLAIM does so).
--
-- KEYS[1] messages   STREAM
-- KEYS[2] consumers  HASH    "<group>\n<worker id>" -> incarnation
-- KEYS[3] dead       STREAM  dead letters
-- KEYS[4] meta       HASH    the stream's settings
-- KEYS[5] counters   HASH    the stream's totals: "delivered" (first deliveries),
--                            "redelivered", "dead_lettered" count what this take did
-- ARGV[1] group
-- ARGV[2] worker_id
-- ARGV[3] incarnation
-- ARGV[4] count
-- ARGV[5] max_deliveries
-- ARGV[6] dead_max_len      the dead letters kept (the oldest go first)
-- Returns: {0, {{id, data, deliveries}, ...}, dead} | {-3} WORKER_LOST | {-7} UNKNOWN_GROUP
-- @include check_types
-- @include stream_group
-- @include stream_bury
-- @include stream_retain
local messages, consumers, dead, meta, counters = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local group, worker_id, incarnation = ARGV[1], ARGV[2], ARGV[3]
local count, max_deliveries, dead_max_len = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local type_error = check_types({{messages, "stream"}, {consumers, "hash"}, {dead, "stream"}, {meta, "hash"},
  {counters, "hash"}})
if type_error then
  return type_error
end
local orphaned = redis.pcall("XPENDING", messages, group, "-", "+", count, ORPHANS)
if no_group(orphaned) then
  return {-7}
end
if redis.call("HGET", consumers, group .. "\n" .. worker_id) ~= incarnation then
  return {-3}
end
local out, buried = {}, 0
for _, entry in ipairs(orphaned) do
  local id, deliveries = entry[1], tonumber(entry[4])
  if deliveries >= max_deliveries then
    buried = buried + bury_orphan(messages, dead, dead_max_len, group, id, id, deliveries, max_deliveries)
  else
    local claimed = redis.call("XCLAIM", messages, group, worker_id, 0, id)
    if claimed[1] then
      out[#out + 1] = {id, claimed[1][2][2], deliveries + 1}
    end
  end
end
if buried > 0 then
  redis.call("HINCRBY", counters, "dead_lettered", buried)
  trim_acked(messages, meta)
end
if #out > 0 then
  redis.call("HINCRBY", counters, "redelivered", #out)
end
local again = #out
if #out < count then
  local read = redis.call("XREADGROUP", "GROUP", group, worker_id, "COUNT", count - #out, "STREAMS", messages, ">")
  if read then
    for _, entry in ipairs(read[1][2]) do
      out[#out + 1] = {entry[1], entry[2][2], 1}
    end
  end
end
if #out > again then
  redis.call("HINCRBY", counters, "delivered", #out - again)
end
return {0, out, buried}
