-- event_task: how an event carries its task, in at most EVENT_TASK_PREVIEW bytes (limits.lua),
-- so that no event can pass a subscriber's pub/sub output limit. Parsed by
-- worqr/_protocol/events.py (parse_event).
--
-- done_message(worker_id, seq, outcome, result, task): the done event of a finished process:
--   "done\n<worker_id>\n<seq>\n<outcome>\n<task size>\n<result>\n<task preview>", where the
--   preview is the task's first EVENT_TASK_PREVIEW bytes and outcome is "succeeded" or
--   "cancelled".
-- cancel_message(task): the cancel event of a payload: "cancel\n<task>" for a task of up to
--   EVENT_TASK_PREVIEW bytes; for a longer one "cancel-digest\n<sha1 hex>\n<task size>\n<task
--   preview>", and running workers match their tasks by the digest.
-- @include limits
local function done_message(worker_id, seq, outcome, result, task)
  local preview = string.sub(task, 1, EVENT_TASK_PREVIEW)
  return "done\n" .. worker_id .. "\n" .. seq .. "\n" .. outcome .. "\n" .. #task .. "\n" .. result .. "\n" .. preview
end

local function cancel_message(task)
  if #task <= EVENT_TASK_PREVIEW then
    return "cancel\n" .. task
  end
  local preview = string.sub(task, 1, EVENT_TASK_PREVIEW)
  return "cancel-digest\n" .. redis.sha1hex(task) .. "\n" .. #task .. "\n" .. preview
end
