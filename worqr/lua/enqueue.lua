-- enqueue: append tasks to the back of a queue and announce them.
--
-- Guarantees: all tasks are appended in order, or none is. With unique = "1", the call
-- writes nothing if any payload is already marked unique on this queue (or repeats within
-- the batch); otherwise every payload is marked.
--
-- KEYS[1] queue     LIST  pending tasks, front = index 0
-- KEYS[2] unique    SET   payloads enqueued with unique=True, queued, delayed or in process
-- ARGV[1] channel         the queue's event channel
-- ARGV[2] unique          "1" to refuse and mark duplicates, "0" otherwise
-- ARGV[3..] tasks         payloads, in order
-- Returns: {0, count} | {-2, index}  DUPLICATE: 1-based index of the first duplicate task
-- Publishes: "work\n<count>"
-- @include call_chunked
-- @include check_types
-- @include mark_unique
-- @include publish
local queue, unique = KEYS[1], KEYS[2]
local channel, is_unique = ARGV[1], ARGV[2] == "1"
local type_error = check_types({{queue, "list"}, {unique, "set"}})
if type_error then
  return type_error
end
local count = #ARGV - 2

if is_unique then
  local duplicate = mark_unique(unique, ARGV, 3, #ARGV)
  if duplicate then
    return duplicate
  end
end

call_chunked("RPUSH", queue, ARGV, 3, #ARGV)
publish(channel, "work\n" .. count)
return {0, count}
