-- wake(idle, count): tell up to `count` idle workers of this queue, longest idle first, that
-- work waits, instead of waking every worker (the thundering herd). Each is popped from the
-- queue's idle set and sent "work\n<count>" on its own channel "<idle>:<worker_id>". A
-- worker that no longer listens there (it died, stopped, or its listener is reconnecting and
-- will poll) receives nothing and is passed over. Returns how many workers were woken.
-- Needs the publish include.
local function wake(idle, count)
  local woken = 0
  while woken < count do
    local popped = redis.call("ZPOPMIN", idle)
    if #popped == 0 then
      break
    end
    if publish(idle .. ":" .. popped[1], "work\n" .. count) > 0 then
      woken = woken + 1
    end
  end
  return woken
end
