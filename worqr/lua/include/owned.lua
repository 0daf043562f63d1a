-- owned: the fence of every script that ends a process (finish, finish_many, stop, fail).
-- A process belongs to the worker whose processes hash holds it; a reaper that declared the
-- worker dead has moved it out (and a finish or stop before has removed it), so a late
-- call from that worker finds nothing and changes nothing.
--
-- owned_task(processes, seq): the payload of process seq, or nil if the caller does not own it.
-- take_owned(processes, seq): the same, and the process removed from the caller's hash.
local function owned_task(processes, seq)
  return redis.call("HGET", processes, seq)
end

local function take_owned(processes, seq)
  local task = owned_task(processes, seq)
  if task then
    redis.call("HDEL", processes, seq)
  end
  return task
end
