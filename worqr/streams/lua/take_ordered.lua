-- take_ordered: hand a consumer of a group of an ordered stream up to `count` messages from
-- the partitions it owns, first claiming or giving up partitions so that each live consumer
-- of the group owns its fair share (ceil(partitions / consumers)).
--
-- Guarantees: each partition is owned, in a group, by at most one live consumer at a time,
-- and only that consumer is handed its messages, in partition order: so the group handles
-- each key's messages in order. A partition passes to another consumer only when its owner
-- holds none of its messages: the owner gives it up while it holds nothing there (a consumer
-- over its fair share), or the owner's membership ended (its worker was reaped, or it
-- closed), which the same script that made its messages orphans did, so the next owner gets
-- the orphans first, in order, before anything newer. Only the worker incarnation that
-- joined the group takes (a worker declared dead gets WORKER_LOST). As take: a message already delivered
-- max_deliveries times goes to the dead letters instead. Each take serves the orphans of
-- every partition it owns first, then new messages from each in equal shares; a consumer over
-- its share takes nothing new from the partitions it is giving up.
--
-- KEYS[1] consumers  HASH    "<group>\n<worker id>" -> incarnation
-- KEYS[2] dead       STREAM  dead letters
-- KEYS[3] meta       HASH    the stream's settings
-- KEYS[4] counters   HASH    the stream's totals ("delivered", "redelivered", "dead_lettered")
-- KEYS[5] owners     HASH    "<group>\n<partition>" -> "<worker id>\n<incarnation>", and
--                            "\nseen\n<group>\n<worker id>" -> when it last took (server ms;
--                            dropped at a later member's first take once it left)
-- KEYS[6..] partitions STREAM  the partitions, in index order
-- ARGV[1] group
-- ARGV[2] worker_id
-- ARGV[3] incarnation
-- ARGV[4] count
-- ARGV[5] max_deliveries
-- ARGV[6] dead_max_len
-- ARGV[7] window_ms          a member that took within this window counts as a live consumer
-- Returns: {0, {{partition, id, data, deliveries}, ...}, dead} | {-3} WORKER_LOST
--   | {-7} UNKNOWN_GROUP
-- @include check_types
-- @include stream_group
-- @include stream_bury
-- @include stream_retain
local consumers, dead, meta, counters, owners = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local group, worker_id, incarnation = ARGV[1], ARGV[2], ARGV[3]
local count, max_deliveries, dead_max_len, window_ms = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local expected = {{consumers, "hash"}, {dead, "stream"}, {meta, "hash"}, {counters, "hash"}, {owners, "hash"}}
for i = 6, #KEYS do
  expected[#expected + 1] = {KEYS[i], "stream"}
end
local type_error = check_types(expected)
if type_error then
  return type_error
end
if no_group(redis.pcall("XPENDING", KEYS[6], group)) then
  return {-7}
end
if redis.call("HGET", consumers, group .. "\n" .. worker_id) ~= incarnation then
  return {-3}
end
local prefix = group .. "\n"
local partitions = #KEYS - 5
local me = worker_id .. "\n" .. incarnation
local now = tonumber(redis.call("TIME")[1]) * 1000
local mark = "\nseen\n" .. prefix
if redis.call("HSET", owners, mark .. worker_id, now) == 1 then
  -- This member's first take: drop the marks of members that have left the group (a leave
  -- or a reap ends a membership in another script and leaves its mark), so that the marks
  -- stay as many as the members, whatever the number of workers that ever consumed.
  for _, field in ipairs(redis.call("HKEYS", owners)) do
    if string.sub(field, 1, #mark) == mark and not redis.call("HGET", consumers, prefix .. string.sub(field, #mark + 1)) then
      redis.call("HDEL", owners, field)
    end
  end
end

-- Who owns what: mine, and free (never owned, or owned by a membership that ended).
local owned, free, owning = {}, {}, {}
for p = 0, partitions - 1 do
  local owner = redis.call("HGET", owners, prefix .. p)
  if owner == me then
    owned[#owned + 1] = p
  else
    local alive = false
    if owner then
      local w, inc = string.match(owner, "^(.*)\n(.*)$")
      alive = redis.call("HGET", consumers, prefix .. w) == inc
      if alive then
        owning[w] = true
      end
    end
    if not alive then
      free[#free + 1] = p
    end
  end
end
-- The live consumers that share the partitions: members that own one, or took within the
-- window (a member that never takes, left by a worker killed while it subscribed, is not
-- counted, so its share does not go unconsumed).
local live = 1
for _, field in ipairs(redis.call("HKEYS", consumers)) do
  if string.sub(field, 1, #prefix) == prefix then
    local w = string.sub(field, #prefix + 1)
    if w ~= worker_id then
      local seen = tonumber(redis.call("HGET", owners, mark .. w) or "0")
      if owning[w] or now - seen <= window_ms then
        live = live + 1
      end
    end
  end
end
local fair = math.ceil(partitions / live)
-- Over the fair share: give up partitions this consumer holds nothing of, the last first;
-- one it still holds messages of is drained (no new messages from it) and given up later.
table.sort(owned)
local draining = {}
for i = #owned, fair + 1, -1 do
  local p = owned[i]
  if not redis.call("XPENDING", KEYS[6 + p], group, "-", "+", 1, worker_id)[1] then
    redis.call("HDEL", owners, prefix .. p)
    table.remove(owned, i)
  else
    draining[p] = true
  end
end
-- Under it: claim free partitions.
for _, p in ipairs(free) do
  if #owned >= fair then
    break
  end
  redis.call("HSET", owners, prefix .. p, me)
  owned[#owned + 1] = p
end
table.sort(owned)

-- Orphans first, from every owned partition; then an equal share of new messages from each
-- owned partition whose orphans are all handed out, starting from a partition picked by
-- the server's clock, so that no partition with a backlog starves the others.
local out, buried, again = {}, 0, 0
for _, p in ipairs(owned) do
  if #out >= count then
    break
  end
  local messages = KEYS[6 + p]
  for _, entry in ipairs(redis.call("XPENDING", messages, group, "-", "+", count - #out, ORPHANS)) do
    local id, deliveries = entry[1], tonumber(entry[4])
    if deliveries >= max_deliveries then
      buried = buried + bury_orphan(messages, dead, dead_max_len, group, id, p .. "/" .. id, deliveries, max_deliveries)
      trim_acked(messages, meta)
    else
      local claimed = redis.call("XCLAIM", messages, group, worker_id, 0, id)
      if claimed[1] then
        out[#out + 1] = {p, id, claimed[1][2][2], deliveries + 1}
        again = again + 1
      end
    end
  end
end
if #out < count and #owned > 0 then
  local share = math.max(1, math.floor((count - #out) / #owned))
  local first = tonumber(redis.call("TIME")[2]) % #owned
  for k = 0, #owned - 1 do
    if #out >= count then
      break
    end
    local p = owned[(first + k) % #owned + 1]
    local messages = KEYS[6 + p]
    if not draining[p] and not redis.call("XPENDING", messages, group, "-", "+", 1, ORPHANS)[1] then
      local n = math.min(share, count - #out)
      local read = redis.call("XREADGROUP", "GROUP", group, worker_id, "COUNT", n, "STREAMS", messages, ">")
      if read then
        for _, entry in ipairs(read[1][2]) do
          out[#out + 1] = {p, entry[1], entry[2][2], 1}
        end
      end
    end
  end
end
if buried > 0 then
  redis.call("HINCRBY", counters, "dead_lettered", buried)
end
if again > 0 then
  redis.call("HINCRBY", counters, "redelivered", again)
end
if #out > again then
  redis.call("HINCRBY", counters, "delivered", #out - again)
end
return {0, out, buried}
