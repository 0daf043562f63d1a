-- check_types(expected): nil if every key holds its expected type or does not exist, else
-- an error reply naming the first key that does not. Scripts call it before any write:
-- Redis does not roll back a script that fails half-way, so a key of the wrong type (one
-- that something else wrote) must stop the script before it changes anything.
-- `expected` is a list of {key, type} pairs, type as TYPE answers it ("list", "set", ...).
-- wrong_type(key, expected): the error reply for `key`, found holding another type than
-- `expected` (check_types gives it; so does a script that lets Redis refuse the first write).
local function wrong_type(key, expected)
  return redis.error_reply("WRONGTYPE worqr key " .. key .. " holds a " .. redis.call("TYPE", key)["ok"]
    .. ", not a " .. expected .. ": something other than worqr wrote it; nothing was changed")
end
local function check_types(expected)
  for _, pair in ipairs(expected) do
    local actual = redis.call("TYPE", pair[1])["ok"]
    if actual ~= "none" and actual ~= pair[2] then
      return wrong_type(pair[1], pair[2])
    end
  end
  return nil
end
