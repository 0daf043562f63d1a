-- register: record that a live worker consumes a stream (subscribe runs it before join, and
-- again after it), so that the peers who reap the worker hand its pending messages on.
--
-- Guarantees: only a registered worker whose heartbeat is alive can add a stream, so once a
-- worker is declared dead its set of streams is frozen and the reaper sees all of them.
-- Listed before it joins, a worker killed between the steps leaves nothing its reap misses;
-- refused after the join (declared dead meanwhile), it leaves the stream again. The name is
-- listed in the registry of streams too. Idempotent.
--
-- KEYS[1] workers     SET     registered, live workers
-- KEYS[2] heartbeat   STRING  the worker's heartbeat key
-- KEYS[3] streams_of  SET     names of the streams the worker consumes
-- KEYS[4] streams     SET     registry of stream names
-- ARGV[1] worker_id
-- ARGV[2] name
-- ARGV[3] partitions       "0", or an ordered stream's partitions: listed among the worker's
--                          streams as "<name>\n<partitions>", so that its reaper knows the keys
-- Returns: {0} | {-3} WORKER_LOST
-- @include check_types
-- @include live_worker
local workers, heartbeat, streams_of, streams = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local worker_id, name, partitions = ARGV[1], ARGV[2], ARGV[3]
local type_error = check_types({{workers, "set"}, {streams_of, "set"}, {streams, "set"}})
if type_error then
  return type_error
end
if not live_worker(workers, heartbeat, worker_id) then
  return {-3}
end
if partitions == "0" then
  redis.call("SADD", streams_of, name)
else
  redis.call("SADD", streams_of, name .. "\n" .. partitions)
end
redis.call("SADD", streams, name)
return {0}
