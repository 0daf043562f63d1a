-- server_time(): the server's clock in milliseconds since the epoch. Delays and due times
-- use it, never a client's clock, so workers on machines whose clocks disagree still agree.
local function server_time()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
