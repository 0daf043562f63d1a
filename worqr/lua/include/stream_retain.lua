-- Retention of a stream whose groups must acknowledge a message before it goes (a stream
-- subscribed to with retain_until_acked, flagged in its meta hash). Needs stream_group.

-- retains(meta): true if the stream keeps each message until every group acknowledged it.
local function retains(meta)
  return redis.call("HGET", meta, "retain") == "1"
end

-- ack_floor(messages): the smallest id that some group has not acknowledged (its oldest
-- pending message, or the first message after its last delivered one); nil without groups.
local function ack_floor(messages)
  if redis.call("EXISTS", messages) == 0 then
    return nil
  end
  local floor = nil
  for _, info in ipairs(redis.call("XINFO", "GROUPS", messages)) do
    local summary = redis.call("XPENDING", messages, group_field(info, "name"))
    local candidate
    if tonumber(summary[1]) > 0 then
      candidate = summary[2]
    else
      local ms, seq = string.match(group_field(info, "last-delivered-id"), "^(%d+)-(%d+)$")
      candidate = ms .. "-" .. string.format("%d", tonumber(seq) + 1)
    end
    if floor == nil or id_after(floor, candidate) then
      floor = candidate
    end
  end
  return floor
end

-- trim_acked(messages, meta): in a retaining stream, drop the messages every group
-- acknowledged; how many.
local function trim_acked(messages, meta)
  if not retains(meta) then
    return 0
  end
  local floor = ack_floor(messages)
  if floor == nil then
    return 0
  end
  return redis.call("XTRIM", messages, "MINID", "=", floor)
end

-- trim_length(messages, meta, max_len): keep the max_len newest messages; in a retaining
-- stream, only as far as every group acknowledged (it may then keep more). How many went.
local function trim_length(messages, meta, max_len)
  local floor = nil
  if retains(meta) then
    floor = ack_floor(messages)
  end
  if floor == nil then
    return redis.call("XTRIM", messages, "MAXLEN", "=", max_len)
  end
  local excess = redis.call("XLEN", messages) - tonumber(max_len)
  if excess <= 0 then
    return 0
  end
  local over = redis.call("XRANGE", messages, "-", "+", "COUNT", excess)
  if id_after(floor, over[#over][1]) then
    return redis.call("XTRIM", messages, "MAXLEN", "=", max_len)
  end
  return redis.call("XTRIM", messages, "MINID", "=", floor)
end

-- trim_before(messages, meta, min_id): drop the messages before min_id; in a retaining
-- stream, only as far as every group acknowledged. How many went.
local function trim_before(messages, meta, min_id)
  if retains(meta) then
    local floor = ack_floor(messages)
    if floor ~= nil and id_after(min_id, floor) then
      min_id = floor
    end
  end
  return redis.call("XTRIM", messages, "MINID", "=", min_id)
end
