-- add_worker_queue: record that a live worker works on a queue (second step of start_work,
-- after join_queue; the worker dequeues only once both succeeded).
--
-- Guarantees: only a registered worker whose heartbeat is alive can add a queue, so once a
-- worker is declared dead its set of queues is frozen and the reaper sees all of them.
-- The queue is registered too (a queue exists from its first start_work).
--
-- KEYS[1] workers    SET     registered, live workers
-- KEYS[2] heartbeat  STRING  the worker's heartbeat key
-- KEYS[3] queues_of  SET     queues the worker works on
-- KEYS[4] queues     SET     registry of existing queue names
-- ARGV[1] worker_id
-- ARGV[2] queue
-- Returns: {0} | {-3} WORKER_LOST
-- @include check_types
-- @include live_worker
local workers, heartbeat, queues_of, queues = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local worker_id, queue = ARGV[1], ARGV[2]
local type_error = check_types({{workers, "set"}, {heartbeat, "string"}, {queues_of, "set"}, {queues, "set"}})
if type_error then
  return type_error
end

if not live_worker(workers, heartbeat, worker_id) then
  return {-3}
end
redis.call("SADD", queues_of, queue)
redis.call("SADD", queues, queue)
return {0}
