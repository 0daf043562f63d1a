-- by_number(a, b): whether the number string a is below the number string b, for table.sort.
-- Process ids and dead letter ids (see next_ids) are past the integers Lua's numbers hold
-- exactly, so they are compared as strings: they have no leading zeros, so the shorter is the
-- smaller, and of two as long the first in byte order.
local function by_number(a, b)
  return #a < #b or (#a == #b and a < b)
end
