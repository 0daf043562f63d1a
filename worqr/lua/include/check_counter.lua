-- check_counter(key): nil if key is absent or holds a counter as next_ids writes it (digits,
-- below 2^53, so exact in Lua), else an error reply. Run it before the first write of a
-- script that draws from the key (INCRBY would fail half-way, or Lua would round it).
local function check_counter(key)
  local value = redis.call("GET", key)
  if value and not (string.match(value, "^%d+$") and #value <= 16 and tonumber(value) < 2 ^ 53) then
    return redis.error_reply("worqr key " .. key .. " does not hold a number: something other than worqr wrote it; nothing was changed")
  end
  return nil
end
