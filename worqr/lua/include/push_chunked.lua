-- push_chunked(command, key, items, first, last): push items[first..last] with `command`
-- (RPUSH or LPUSH) in chunks, because unpack() of thousands of values overflows Lua's stack.
local function push_chunked(command, key, items, first, last)
  local chunk = 1000
  for i = first, last, chunk do
    redis.call(command, key, unpack(items, i, math.min(i + chunk - 1, last)))
  end
end
