-- check_types(expected): nil if every key holds its expected type or does not exist, else
-- an error reply naming the first key that does not. Scripts call it before any write:
-- Redis does not roll back a script that fails half-way, so a key of the wrong type (one
-- that something else wrote) must stop the script before it changes anything.
-- `expected` is a list of {key, type} pairs, type as TYPE answers it ("list", "set", ...).
local function check_types(expected)
  for _, pair in ipairs(expected) do
    local actual = redis.call("TYPE", pair[1])["ok"]
    if actual ~= "none" and actual ~= pair[2] then
      return redis.error_reply(
        "WRONGTYPE worqr key " .. pair[1] .. " holds a " .. actual .. ", not a " .. pair[2]
          .. ": something other than worqr wrote it; nothing was changed")
    end
  end
  return nil
end
