-- join: make a worker a consumer of a group of a stream, creating the group (and the
-- stream) if it does not exist yet (first step of subscribe, before register).
--
-- Guarantees: the group, if this call creates it, starts after `start` ("$": only messages
-- published from now on; "0": every retained message); an existing group keeps its
-- position. The worker's incarnation is recorded beside the group, and only that
-- incarnation may take or acknowledge messages of the group (a reap removes it). With
-- retain, the stream keeps each message until every group acknowledged it, from now on (the
-- flag is never cleared). Idempotent.
--
-- KEYS[1] messages   STREAM
-- KEYS[2] consumers  HASH    "<group>\n<worker id>" -> incarnation
-- KEYS[3] meta       HASH    the stream's settings
-- ARGV[1] group
-- ARGV[2] worker_id
-- ARGV[3] incarnation
-- ARGV[4] start             "$", "0" or a message id
-- ARGV[5] retain            "1": retain until acked; "0": leave the setting as it is
-- ARGV[6] partitions        the stream's partitions ("0": not ordered), checked as publish does
-- Returns: {0, created}  created: 1 if this call created the group | {-9, partitions} PARTITIONS
-- @include check_types
-- @include stream_group
local messages, consumers, meta = KEYS[1], KEYS[2], KEYS[3]
local group, worker_id, incarnation, start, retain, partitions = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local type_error = check_types({{messages, "stream"}, {consumers, "hash"}, {meta, "hash"}})
if type_error then
  return type_error
end
local refused = settle_partitions(meta, partitions)
if refused then
  return refused
end
local created = 1
local made = redis.pcall("XGROUP", "CREATE", messages, group, start, "MKSTREAM")
if type(made) == "table" and made.err then
  if string.sub(made.err, 1, 9) ~= "BUSYGROUP" then
    return made
  end
  created = 0
end
redis.call("XGROUP", "CREATECONSUMER", messages, group, worker_id)
redis.call("HSET", consumers, group .. "\n" .. worker_id, incarnation)
if retain == "1" then
  redis.call("HSET", meta, "retain", "1")
end
return {0, created}
