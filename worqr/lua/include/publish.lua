-- publish(channel, message): announce an event on a queue's channel; returns the number of
-- subscribers that received it. On a Redis Cluster, worqr/_protocol/scripts.py runs a variant of each
-- script with SPUBLISH (sharded pub/sub: the channel shares the queue's hash tag, so it lives
-- on the queue's shard).
local function publish(channel, message)
  return redis.call("PUBLISH", channel, message)
end
