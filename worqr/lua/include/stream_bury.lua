-- The dead letters of the stream takes (worqr.streams).

-- bury_orphan(messages, dead, dead_max_len, group, id, shown_id, deliveries, max_deliveries):
-- move an orphan delivered max_deliveries times to the dead letters (if it is still in the
-- stream) and acknowledge it; 1 if it was moved, else 0.
local function bury_orphan(messages, dead, dead_max_len, group, id, shown_id, deliveries, max_deliveries)
  local found = redis.call("XRANGE", messages, id, id)
  local moved = 0
  if found[1] then
    redis.call("XADD", dead, "MAXLEN", "~", dead_max_len, "*", "id", shown_id, "group", group,
      "deliveries", deliveries, "reason",
      "delivered " .. deliveries .. " times (max_deliveries " .. max_deliveries .. "): each consumer died before it acknowledged",
      "d", found[1][2][2])
    moved = 1
  end
  redis.call("XACK", messages, group, id)
  return moved
end
