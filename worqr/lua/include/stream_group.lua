-- Helpers of the stream scripts (worqr.streams).
-- ORPHANS: the consumer that holds a reaped worker's pending messages until a live consumer
-- of the group takes them (a name no worker id can have: worker ids hold no control characters).
local ORPHANS = "\norphans"

-- no_group(reply): true if a pcall'd stream command failed because the group (or the stream)
-- does not exist; any other error is raised.
local function no_group(reply)
  if type(reply) == "table" and reply.err then
    if string.sub(reply.err, 1, 7) == "NOGROUP" then
      return true
    end
    error(reply.err)
  end
  return false
end

-- id_after(a, b): true if stream id a comes after stream id b ("<ms>-<seq>").
local function id_after(a, b)
  local a_ms, a_seq = string.match(a, "^(%d+)-(%d+)$")
  local b_ms, b_seq = string.match(b, "^(%d+)-(%d+)$")
  a_ms, b_ms = tonumber(a_ms), tonumber(b_ms)
  if a_ms ~= b_ms then
    return a_ms > b_ms
  end
  return tonumber(a_seq) > tonumber(b_seq)
end

-- group_field(info, name): a field of one group's XINFO GROUPS entry (a flat list).
local function group_field(info, name)
  for i = 1, #info, 2 do
    if info[i] == name then
      return info[i + 1]
    end
  end
  return nil
end

-- last_delivered(messages, group): the group's last delivered id, or nil if the stream or the
-- group does not exist.
local function last_delivered(messages, group)
  local groups = redis.pcall("XINFO", "GROUPS", messages)
  if type(groups) == "table" and groups.err then
    return nil
  end
  for _, info in ipairs(groups) do
    if group_field(info, "name") == group then
      return group_field(info, "last-delivered-id")
    end
  end
  return nil
end

-- settle_partitions(meta, partitions): nil if the stream's recorded partitions ("0": not
-- ordered) are `partitions`, recording them on first use; else the refusal {-9, recorded}.
local function settle_partitions(meta, partitions)
  local stored = redis.call("HGET", meta, "partitions")
  if stored and stored ~= partitions then
    return {-9, stored}
  end
  if not stored then
    redis.call("HSET", meta, "partitions", partitions)
  end
  return nil
end
