-- fence: a fragment for your own scripts, to refuse a stale fencing token atomically with
-- the write it guards. Paste it at the top of your script (worqr.leases.FENCE_LUA holds it).
--
-- Guarantees: fence_current(holder, token) is true only while `token` is the token of the
-- lease's current holder: a term that was released, expired or passed to another holder is
-- refused. Pass the lease's holder key (Lease.fence_key) in KEYS; on a Redis Cluster your
-- own keys must share its hash tag ({<prefix>:lease:<name>}).
--
-- KEYS: none of its own (the caller's script passes the holder key)
-- Returns: (a function) fence_current(holder, token) -> boolean
local function fence_current(holder, token)
  local current = redis.call("HGET", holder, "token")
  return current ~= false and current == tostring(token)
end
