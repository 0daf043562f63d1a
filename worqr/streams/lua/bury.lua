-- bury: move a message a consumer holds to the stream's dead letters, with the reason (its
-- bytes cannot be decoded, say), and acknowledge it in the group.
--
-- Guarantees: as ack: only the consumer it is pending under, only while that worker
-- incarnation is live in the group; otherwise nothing changes. Idempotent.
--
-- KEYS[1] messages   STREAM
-- KEYS[2] consumers  HASH    "<group>\n<worker id>" -> incarnation
-- KEYS[3] dead       STREAM  dead letters
-- KEYS[4] meta       HASH    the stream's settings
-- KEYS[5] counters   HASH    the stream's totals: "dead_lettered" counts this
-- ARGV[1] group
-- ARGV[2] worker_id
-- ARGV[3] incarnation
-- ARGV[4] id
-- ARGV[5] reason
-- ARGV[6] dead_max_len
-- Returns: {0, buried} | {-3} WORKER_LOST | {-7} UNKNOWN_GROUP
-- @include check_types
-- @include stream_group
-- @include stream_retain
local messages, consumers, dead, meta, counters = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local group, worker_id, incarnation, id, reason, dead_max_len = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local type_error = check_types({{messages, "stream"}, {consumers, "hash"}, {dead, "stream"}, {meta, "hash"},
  {counters, "hash"}})
if type_error then
  return type_error
end
local mine = redis.pcall("XPENDING", messages, group, id, id, 1, worker_id)
if no_group(mine) then
  return {-7}
end
if redis.call("HGET", consumers, group .. "\n" .. worker_id) ~= incarnation then
  return {-3}
end
if not mine[1] then
  return {0, 0}
end
local found = redis.call("XRANGE", messages, id, id)
if found[1] then
  redis.call("XADD", dead, "MAXLEN", "~", dead_max_len, "*", "id", id, "group", group,
    "deliveries", mine[1][4], "reason", reason, "d", found[1][2][2])
end
redis.call("XACK", messages, group, id)
redis.call("HINCRBY", counters, "dead_lettered", 1)
trim_acked(messages, meta)
return {0, 1}
