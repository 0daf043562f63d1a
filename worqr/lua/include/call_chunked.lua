-- call_chunked(command, key, items, first, last): run `command key item...` (RPUSH, LPUSH,
-- SADD) over items[first..last] in chunks, because unpack() of thousands of values
-- overflows Lua's stack.
local function call_chunked(command, key, items, first, last)
  local chunk = 1000
  for i = first, last, chunk do
    redis.call(command, key, unpack(items, i, math.min(i + chunk - 1, last)))
  end
end
