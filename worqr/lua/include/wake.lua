-- wake(idle, count[, popped]): tell up to `count` idle workers of this queue, longest idle first, that
-- work waits, instead of waking every worker (the thundering herd). Each is popped from the
-- queue's idle set and sent "work\n<count>" on its own channel "<idle>:<worker_id>". A
-- worker that no longer listens there (it died, stopped, or its listener is reconnecting and
-- will poll) receives nothing and is passed over. Returns how many workers were woken.
-- Needs the publish include.
local function wake(idle, count, popped)
  local woken = 0
  -- `popped` (optional): a ZPOPMIN reply the caller already took from the idle set (enqueue
  -- pops before it writes, as its type guard); those are told first.
  for i = 1, popped and #popped or 0, 2 do
    if publish(idle .. ":" .. popped[i], "work\n" .. count) > 0 then
      woken = woken + 1
    end
  end
  if popped and #popped < 2 * count then
    return woken  -- the caller's pop emptied the set
  end
  while woken < count do
    local one = redis.call("ZPOPMIN", idle)
    if #one == 0 then
      break
    end
    if publish(idle .. ":" .. one[1], "work\n" .. count) > 0 then
      woken = woken + 1
    end
  end
  return woken
end
