-- register: record that a live worker contends for a lease (before its first acquire), so
-- that the peers who reap the worker release the lease at once.
--
-- Guarantees: only a registered worker whose heartbeat is alive can add a lease, so once a
-- worker is declared dead its set of leases is frozen and the reaper sees all of them (the
-- same order as add_worker_queue: register first, acquire second). The name is listed in the
-- registry of lease names too (worqr leases). Idempotent.
--
-- KEYS[1] workers    SET     registered, live workers
-- KEYS[2] heartbeat  STRING  the worker's heartbeat key
-- KEYS[3] leases_of  SET     names of the leases the worker contends for
-- KEYS[4] leases     SET     registry of lease names
-- ARGV[1] worker_id
-- ARGV[2] name
-- Returns: {0} | {-3} WORKER_LOST
-- @include check_types
-- @include live_worker
local workers, heartbeat, leases_of, leases = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local worker_id, name = ARGV[1], ARGV[2]
local type_error = check_types({{workers, "set"}, {leases_of, "set"}, {leases, "set"}})
if type_error then
  return type_error
end
if not live_worker(workers, heartbeat, worker_id) then
  return {-3}
end
redis.call("SADD", leases_of, name)
redis.call("SADD", leases, name)
return {0}
