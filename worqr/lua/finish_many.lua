-- finish_many: finish several processes of one worker on one queue, in order: the same as
-- running finish once for each, in one call (the runtime records its results in batches).
--
-- Guarantees: each process is finished exactly as finish would (only if this worker owns
-- it, once; its unique marker and attempt count cleared; a done event published, all with
-- the same outcome); a process that is no longer this worker's is reported PROCESS_LOST and
-- the others still finish.
--
-- KEYS[1] processes  HASH  the finishing worker's processes on this queue: seq -> payload
-- KEYS[2] unique     SET   the queue's unique markers
-- KEYS[3] attempts   HASH  payload -> attempts that failed or were interrupted so far
-- KEYS[4] counters   HASH  the queue's counters (include counters)
-- ARGV[1] done channel     the queue's channel for done events ({P:Q}:done)
-- ARGV[2] worker_id
-- ARGV[3] outcome          how the processes ended: "succeeded", or "cancelled"
-- ARGV[4..] pairs          seq, result as JSON; repeated
-- Returns: {0, {lost...}}: the 1-based positions (among the pairs) of the processes that
--   were no longer this worker's (PROCESS_LOST), in order; empty when all finished (a
--   status per process cost a client without hiredis a read each)
-- Publishes: "done\n<worker_id>\n<seq>\n<outcome>\n<task size>\n<result>\n<task preview>" per
-- finished process, as finish does
-- Derived keys: the record of a call task, and its caller's channel (include call_record).
-- Counts: finished or cancelled; fenced, in the queue's counters ({P:Q}:counters; include counters).
-- @include check_types
-- @include owned
-- @include publish
-- @include event_task
-- @include server_time
-- @include call_record
-- @include counters
local processes, unique, attempts = KEYS[1], KEYS[2], KEYS[3]
local counters = KEYS[4]
local channel, worker_id, outcome = ARGV[1], ARGV[2], ARGV[3]
local type_error = check_types({{processes, "hash"}, {unique, "set"}, {attempts, "hash"}})
if type_error then
  return type_error
end

local lost, ended = {}, 0
for i = 4, #ARGV - 1, 2 do
  local seq, result = ARGV[i], ARGV[i + 1]
  local task = take_owned(processes, seq)
  if task then
    redis.call("SREM", unique, task)
    redis.call("HDEL", attempts, task)
    call_end(queue_tag(processes), task, outcome == "cancelled" and "cancelled" or "succeeded", "result", result)
    publish(channel, done_message(worker_id, seq, outcome, result, task))
    ended = ended + 1
  else
    lost[#lost + 1] = (i - 2) / 2
  end
end
count_change(counters, outcome == "cancelled" and "cancelled" or "finished", ended)
count_change(counters, "fenced", #lost)
return {0, lost}
