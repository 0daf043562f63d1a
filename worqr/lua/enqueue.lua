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
-- Returns: 2 * count + unlisted | {-2, index}  DUPLICATE: 1-based index of the first duplicate
--   task. Appended: one integer (a table costs a client without hiredis about 20 us more to
--   read), count the tasks appended and unlisted 1 when the caller must add the queue to the
--   registry (add_queue): the first enqueue, then at most once per LISTED_TTL, so the
--   registry heals from a crash between the two steps; 0 otherwise (one round trip, one
--   script call).
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
-- The guards cost more than the enqueue itself (a TYPE is about 2 us), so none runs on the
-- path without unique: the idle workers to wake are popped first, and Redis refuses the
-- pop on a key of another type before it changes anything; the RPUSH is refused the same
-- way, and the pop is then undone. Each refusal is turned into the clear error check_types
-- gives. With unique, the markers go in first, so the queue, the unique set and the idle
-- set are checked before them. SET ... NX on the listed marker never fails on another type
-- (it only finds the key there).
local function refused(reply, key, expected)
  if string.find(reply.err, "WRONGTYPE", 1, true) ~= 1 then
    return reply  -- any other refusal (READONLY, OOM...) as Redis gave it
  end
  return wrong_type(key, expected)
end
local count = #ARGV - 2
local popped = nil

if is_unique then
  local type_error = check_types({{queue, "list"}, {unique, "set"}, {idle, "zset"}})
  if type_error then
    return type_error
  end
  local duplicate = mark_unique(unique, ARGV, 3, #ARGV)
  if duplicate then
    return duplicate
  end
  call_chunked("RPUSH", queue, ARGV, 3, #ARGV)
else
  popped = redis.pcall("ZPOPMIN", idle, count)
  if popped.err then
    return refused(popped, idle, "zset")
  end
  local CHUNK = 1000  -- as call_chunked: unpack() of thousands of values overflows Lua's stack
  local pushed = redis.pcall("RPUSH", queue, unpack(ARGV, 3, math.min(#ARGV, 3 + CHUNK - 1)))
  if type(pushed) == "table" and pushed.err then
    for i = 1, #popped, 2 do  -- undo the pop: nothing was changed
      redis.call("ZADD", idle, popped[i + 1], popped[i])
    end
    return refused(pushed, queue, "list")
  end
  if #ARGV > 3 + CHUNK - 1 then
    call_chunked("RPUSH", queue, ARGV, 3 + CHUNK, #ARGV)
  end
end
count_change(counters, "enqueued", count)
wake(idle, count, popped)  -- first: a woken worker hears it before the broadcast
publish(channel, "work\n" .. count)
local unlisted = redis.call("SET", listed, "1", "NX", "EX", LISTED_TTL) and 1 or 0
return 2 * count + unlisted
