-- counters: each queue's exact totals since it was created, {P:Q}:counters (HASH), each
-- counted in the same script as the change it counts, once per script call with the batch
-- size, so that they can never disagree with the queue:
--   enqueued       tasks added (enqueue, schedule, call), duplicates refused not counted
--   finished       processes finished (finish, finish_many: outcome "succeeded")
--   cancelled      tasks cancelled: removed while waiting (cancel, call_cancel) or ended
--                  with outcome "cancelled"
--   failed         failed attempts (fail), whether retried or dead-lettered
--   dead_lettered  tasks moved to the dead letters (fail, attempts used up)
--   requeued       dead letters requeued (requeue_dead)
--   fenced         ends refused by the fence (finish, finish_many, stop, fail of a process
--                  the caller no longer owns: a zombie's, or a retry of an end that applied)
-- `counters` is the queue's {P:Q}:counters, one of the script's KEYS: declared, so that a
-- user whose ACL may not write it is refused before the script starts, not half-way.
local function count_change(counters, field, n)
  if n > 0 then
    redis.call("HINCRBY", counters, field, n)
  end
end
