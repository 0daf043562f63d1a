-- call_record: a call's record (worqr.calls), kept in step with its task. A task whose payload
-- starts with CALL_HEADER ("worqr-call/1\n<id>\n<function>\n<caller>\n<arguments>") is a
-- call; every script that moves a task updates its call's record in the same script, so a
-- status read is never behind the queue. The record is found from the payload, under the
-- queue's own hash tag, and is updated only while it exists (a result that expired stays gone)
-- and has not ended: a call ends once, and its first outcome is the one that stays (a dead
-- letter requeued by an operator runs again without changing the call's recorded failure).
--
-- Derived keys (the queue's hash tag "{P:Q}", taken from one of the script's keys):
--   {P:Q}:call:<id>   HASH  the call's record: state, function, caller, attempts, worker,
--                           enqueued_at, started_at, finished_at, progress, result,
--                           error_type, error, ttl (result_ttl in ms), key, task, member
--   {P:Q}:call-keys   HASH  unique key -> id of the live call that holds it
-- Publishes on {P:Q}:calls:<caller> (one channel per caller, whatever the number of its calls),
--   when a call ends: "call\n<id>\n<state>\n<attempts>\n<function>\n<outcome>", the outcome
--   being the result (succeeded), "<error type>\n<error>" (failed) or empty (cancelled), so that
--   a waiter needs no read; when the outcome is over NOTICE_OUTCOME_LIMIT bytes, the short
--   "call\n<id>\n<state>" (read the record). "call\n<id>\nprogress" when it reports progress.
-- Needs the server_time and publish includes.
local CALL_HEADER = "worqr-call/1\n"
local NOTICE_OUTCOME_LIMIT = 1024

local function queue_tag(key)
  return string.sub(key, 1, string.find(key, "}", 1, true))
end

-- True if the task is a call's (its payload starts with the call header).
local function is_call(task)
  return string.sub(task, 1, #CALL_HEADER) == CALL_HEADER
end

-- The record key, id and caller of a call's task; nil for any other task.
local function call_record(tag, task)
  if not is_call(task) then
    return nil
  end
  local start = #CALL_HEADER + 1
  local id_end = string.find(task, "\n", start, true)
  local name_end = id_end and string.find(task, "\n", id_end + 1, true)
  local caller_end = name_end and string.find(task, "\n", name_end + 1, true)
  if not caller_end then
    return nil
  end
  local id = string.sub(task, start, id_end - 1)
  return tag .. ":call:" .. id, id, string.sub(task, name_end + 1, caller_end - 1)
end

local function is_open(record)
  local state = redis.call("HGET", record, "state")
  return state and state ~= "succeeded" and state ~= "failed" and state ~= "cancelled"
end

-- Set fields of the call's record (field, value, ...), if the task is a call with an open record.
local function call_update(tag, task, ...)
  local record = call_record(tag, task)
  if record and is_open(record) then
    redis.call("HSET", record, ...)
  end
end

-- The call ended (state: succeeded, failed or cancelled), with more fields (field, value, ...):
-- its result_ttl starts, its unique key is free again, and its caller is told.
local function call_end(tag, task, state, ...)
  local record, id, caller = call_record(tag, task)
  if not record or not is_open(record) then
    return
  end
  redis.call("HSET", record, "state", state, "finished_at", server_time(), ...)
  redis.call("HDEL", record, "task", "member")
  local key = redis.call("HGET", record, "key")
  if key and key ~= "" then
    local keys = tag .. ":call-keys"
    if redis.call("HGET", keys, key) == id then
      redis.call("HDEL", keys, key)
    end
  end
  redis.call("PEXPIRE", record, tonumber(redis.call("HGET", record, "ttl")) or 3600000)
  local notice = "call\n" .. id .. "\n" .. state
  local fields = redis.call("HMGET", record, "attempts", "function", "result", "error_type", "error")
  local outcome = ""
  if state == "succeeded" then
    outcome = fields[3] or ""
  elseif state == "failed" then
    outcome = (fields[4] or "") .. "\n" .. (fields[5] or "")
  end
  if #outcome <= NOTICE_OUTCOME_LIMIT then
    notice = notice .. "\n" .. (fields[1] or "0") .. "\n" .. (fields[2] or "") .. "\n" .. outcome
  end
  publish(tag .. ":calls:" .. caller, notice)
end
