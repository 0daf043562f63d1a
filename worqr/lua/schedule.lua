-- schedule: add tasks that become due later (delayed or scheduled enqueue).
--
-- Guarantees: all tasks are added, or none is (unique checks as in enqueue). A task is not
-- dequeued before its due time by the server's clock; once due, the next dequeue on the
-- queue moves it to the back of the queue (see dequeue). Entries are numbered by next_ids, so
-- two never share a member, not even after Redis lost data or its counter.
--
-- KEYS[1] delayed  ZSET    tasks not due yet: "<n>:<payload>" scored by due time (ms)
-- KEYS[2] unique   SET     the queue's unique markers
-- KEYS[3] seq      STRING  the queue's counter (next_ids: numbers the delayed entries)
-- KEYS[4] counters HASH    the queue's counters (include counters)
-- ARGV[1] channel          the queue's event channel
-- ARGV[2] unique           "1" to refuse and mark duplicates, "0" otherwise
-- ARGV[3] mode             "in": ARGV[4] is a delay in ms; "at": ARGV[4] is a due time in ms since the epoch
-- ARGV[4] ms
-- ARGV[5..] tasks          payloads, in order
-- Returns: {0, count, due_in_ms} | {-2, index}  DUPLICATE: 1-based index of the first duplicate task
-- Publishes: "scheduled\n<due_in_ms>" (idle workers wake up in time)
-- Counts: enqueued, in the queue's counters ({P:Q}:counters; include counters).
-- @include call_chunked
-- @include check_types
-- @include check_counter
-- @include next_ids
-- @include mark_unique
-- @include server_time
-- @include publish
-- @include counters
local delayed, unique, seq = KEYS[1], KEYS[2], KEYS[3]
local counters = KEYS[4]
local channel, is_unique, mode, ms = ARGV[1], ARGV[2] == "1", ARGV[3], tonumber(ARGV[4])
local type_error = check_types({{delayed, "zset"}, {unique, "set"}, {seq, "string"}}) or check_counter(seq)
if type_error then
  return type_error
end

if is_unique then
  local duplicate = mark_unique(unique, ARGV, 5, #ARGV)
  if duplicate then
    return duplicate
  end
end

local now = server_time()
local due = mode == "at" and ms or now + ms
local count = #ARGV - 4
local id = next_ids(seq, count)
local entries = {}
for i = 5, #ARGV do
  entries[#entries + 1] = due
  -- zero-padded: ZRANGE orders equal due times by member, so a batch keeps its order
  entries[#entries + 1] = pad_number(id(i - 4)) .. ":" .. ARGV[i]
end
call_chunked("ZADD", delayed, entries, 1, #entries)
count_change(counters, "enqueued", count)
local due_in = math.max(0, due - now)
publish(channel, "scheduled\n" .. string.format("%d", due_in))
return {0, count, due_in}
