-- enqueue: append tasks to the back of a queue and announce them.
--
-- Guarantees: all tasks are appended in order, or none is. With unique = "1", the call
-- writes nothing if any payload is already marked unique on this queue (or repeats within
-- the batch); otherwise every payload is marked.
--
-- KEYS[1] queue     LIST  pending tasks, front = index 0
-- KEYS[2] unique    SET   payloads enqueued with unique=True, queued, delayed or in process
-- KEYS[3] idle      ZSET  workers idle on this queue (see the wake include)
-- KEYS[4] listed    STRING  set (for LISTED_TTL seconds) while the queue is known to be in
--                         the queue registry; its absence asks the caller to list it
-- KEYS[5] counters  HASH  the queue's counters (include counters)
-- ARGV[1] channel         the queue's work channel ({P:Q}:work)
-- ARGV[2] unique          "1" to refuse and mark duplicates, "0" otherwise
-- ARGV[3..] tasks         payloads, in order
-- Returns: {0, count, unlisted} | {-2, index}  DUPLICATE: 1-based index of the first duplicate
--   task. unlisted is 1 when the caller must add the queue to the registry (add_queue): the
--   first enqueue, then at most once per LISTED_TTL, so the registry heals from a crash
--   between the two steps; 0 otherwise (one round trip, one script call).
-- Publishes: "work\n<count>"; wakes up to <count> idle workers (wake include)
-- Counts: enqueued, in the queue's counters ({P:Q}:counters; include counters).
-- @include call_chunked
-- @include check_types
-- @include mark_unique
-- @include publish
-- @include wake
-- @include counters
local queue, unique, idle, listed = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local counters = KEYS[5]
local LISTED_TTL = 60
local channel, is_unique = ARGV[1], ARGV[2] == "1"
-- The guards cost more than the enqueue itself (a TYPE is about 2.4 us), so only those that
-- a later write needs are run: the idle set, written (popped) after the tasks are in; with
-- unique, the queue and the unique set too, since the markers go in first. Without unique,
-- the first write is the RPUSH, and Redis refuses a list command on another type before it
-- changes anything: its refusal is turned into the same clear error. SET ... NX on the
-- listed marker never fails on another type (it only finds the key there).
local type_error = is_unique and check_types({{queue, "list"}, {unique, "set"}, {idle, "zset"}})
  or check_types({{idle, "zset"}})
if type_error then
  return type_error
end
local count = #ARGV - 2

if is_unique then
  local duplicate = mark_unique(unique, ARGV, 3, #ARGV)
  if duplicate then
    return duplicate
  end
  call_chunked("RPUSH", queue, ARGV, 3, #ARGV)
else
  local CHUNK = 1000  -- as call_chunked: unpack() of thousands of values overflows Lua's stack
  local pushed = redis.pcall("RPUSH", queue, unpack(ARGV, 3, math.min(#ARGV, 3 + CHUNK - 1)))
  if type(pushed) == "table" and pushed.err then
    if string.find(pushed.err, "WRONGTYPE", 1, true) ~= 1 then
      return pushed  -- any other refusal (READONLY, OOM...) as Redis gave it
    end
    return redis.error_reply("WRONGTYPE worqr key " .. queue .. " holds a " .. redis.call("TYPE", queue)["ok"]
      .. ", not a list: something other than worqr wrote it; nothing was changed")
  end
  if #ARGV > 3 + CHUNK - 1 then
    call_chunked("RPUSH", queue, ARGV, 3 + CHUNK, #ARGV)
  end
end
count_change(counters, "enqueued", count)
wake(idle, count)  -- first: a woken worker hears it before the broadcast
publish(channel, "work\n" .. count)
local unlisted = redis.call("SET", listed, "1", "NX", "EX", LISTED_TTL) and 1 or 0
return {0, count, unlisted}
