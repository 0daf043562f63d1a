-- reap: hand the messages a worker holds in a stream's groups on to the groups' live
-- consumers: a step of reaping a worker declared dead (after declare_dead, before
-- forget_worker), and of a subscription's clean close (one group, the worker's own
-- incarnation).
--
-- Guarantees: only the given incarnation's membership is ended ("" any), so a later
-- incarnation's is left alone. Each of its pending messages, in every partition of an
-- ordered stream, moves, still pending and with its delivery count, to the group's orphans,
-- which the next take of a live consumer of the group receives first; the worker leaves the
-- group in the same script, so nothing more is delivered to it, its late acks are refused,
-- and the partitions it owned pass to others only once their messages are orphans. The live
-- consumers are told at once. Idempotent.
--
-- KEYS[1] consumers  HASH    "<group>\n<worker id>" -> incarnation
-- KEYS[2..] streams  STREAM  the stream (its :messages), or each partition of an ordered one
-- ARGV[1] worker_id
-- ARGV[2] incarnation       the incarnation to end ("" any)
-- ARGV[3] group             the group to leave ("" every group)
-- ARGV[4] channel           the stream's published channel
-- Returns: {0, handed}  handed: messages moved to the orphans
-- Publishes: "published\n" on the channel, if it handed any
-- @include check_types
-- @include stream_group
-- @include publish
local consumers = KEYS[1]
local worker_id, incarnation, only, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local expected = {{consumers, "hash"}}
for i = 2, #KEYS do
  expected[#expected + 1] = {KEYS[i], "stream"}
end
local type_error = check_types(expected)
if type_error then
  return type_error
end
local suffix = "\n" .. worker_id
local handed = 0
for _, field in ipairs(redis.call("HKEYS", consumers)) do
  if string.sub(field, -#suffix) == suffix then
    local group = string.sub(field, 1, #field - #suffix)
    local joined = redis.call("HGET", consumers, field)
    if (only == "" or only == group) and (incarnation == "" or joined == incarnation) then
      for i = 2, #KEYS do
        local messages = KEYS[i]
        while true do
          local pending = redis.pcall("XPENDING", messages, group, "-", "+", 1000, worker_id)
          if no_group(pending) or not pending[1] then
            break
          end
          local claim = {"XCLAIM", messages, group, ORPHANS, 0}
          for _, entry in ipairs(pending) do
            claim[#claim + 1] = entry[1]
          end
          claim[#claim + 1] = "JUSTID"
          redis.call(unpack(claim))
          handed = handed + #pending
        end
        redis.pcall("XGROUP", "DELCONSUMER", messages, group, worker_id)
      end
      redis.call("HDEL", consumers, field)
    end
  end
end
if handed > 0 then
  publish(channel, "published\n")
end
return {0, handed}
