-- join: make a worker a consumer of a group of a stream, creating the group (and the
-- stream) if it does not exist yet (first step of subscribe, before register).
--
-- Guarantees: the group, if this call creates it, starts after `start` ("$": only messages
-- published from now on; "0": every retained message); an existing group keeps its
-- position. The worker's incarnation is recorded beside the group, and only that
-- incarnation may take or acknowledge messages of the group (a reap removes it). Idempotent.
--
-- KEYS[1] messages   STREAM
-- KEYS[2] consumers  HASH    "<group>\n<worker id>" -> incarnation
-- ARGV[1] group
-- ARGV[2] worker_id
-- ARGV[3] incarnation
-- ARGV[4] start             "$", "0" or a message id
-- Returns: {0, created}  created: 1 if this call created the group
-- @include check_types
local messages, consumers = KEYS[1], KEYS[2]
local group, worker_id, incarnation, start = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local type_error = check_types({{messages, "stream"}, {consumers, "hash"}})
if type_error then
  return type_error
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
return {0, created}
