-- check_counter(key): nil if key is absent or holds an integer, else an error reply. Run it
-- before the first write of a script that INCRs the key (INCR would fail half-way).
local function check_counter(key)
  local value = redis.call("GET", key)
  if value and not tonumber(value) then
    return redis.error_reply("worqr key " .. key .. " does not hold a number: something other than worqr wrote it; nothing was changed")
  end
  return nil
end
