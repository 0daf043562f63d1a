-- mark_unique(unique, items, first, last): nil after marking items[first..last] in the
-- unique set, or {-2, index} (DUPLICATE, 1-based within the batch) without marking anything
-- when a payload is already marked or repeats within the batch. Needs call_chunked.
local function mark_unique(unique, items, first, last)
  local seen = {}
  for i = first, last do
    local task = items[i]
    if seen[task] or redis.call("SISMEMBER", unique, task) == 1 then
      return {-2, i - first + 1}
    end
    seen[task] = true
  end
  call_chunked("SADD", unique, items, first, last)
  return nil
end
