-- peek: the server's clock and the schedules of a queue that are due first (read only).
--
-- Guarantees: none beyond a consistent read: the time and the entries are read together.
--
-- KEYS[1] due      ZSET    the queue's schedules by next due time (server ms)
-- ARGV[1] count            how many entries, at most
-- Returns: {now_ms, name, due_ms, name, due_ms, ...}  the first <count> entries, soonest first
-- @include server_time
local due, count = KEYS[1], tonumber(ARGV[1])
local reply = {server_time()}
if redis.call("TYPE", due)["ok"] ~= "zset" then
  return reply
end
local entries = redis.call("ZRANGE", due, 0, count - 1, "WITHSCORES")
for i = 1, #entries, 2 do
  reply[#reply + 1] = entries[i]
  reply[#reply + 1] = tonumber(entries[i + 1])
end
return reply
