-- live_worker(workers, heartbeat, worker_id): true if the worker is registered and its
-- heartbeat is alive. A worker declared dead is neither (declare_dead removes both at once),
-- so a script that adds to a worker's sets only behind this check freezes those sets from
-- the moment the worker is declared dead: the reaper sees everything they will ever hold.
local function live_worker(workers, heartbeat, worker_id)
  return redis.call("SISMEMBER", workers, worker_id) == 1 and redis.call("EXISTS", heartbeat) == 1
end
