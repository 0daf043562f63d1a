-- limits: the numbers the scripts and the Python side share. worqr._protocol.scripts reads
-- them from this file (`limit(name)`), so each is defined once.
--
-- MAX_TAKE: the most tasks one dequeue takes (its count argument), and the most due
--   delayed tasks one dequeue moves to the back of the queue.
local MAX_TAKE = 1000
--
-- EVENT_TASK_PREVIEW: the most bytes of a task one event carries (see event_task.lua):
--   Redis disconnects a subscriber whose pub/sub output passes its hard limit
--   (client-output-buffer-limit pubsub, 32 MB by default), and the event is lost with it.
local EVENT_TASK_PREVIEW = 4096
