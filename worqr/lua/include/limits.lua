-- limits: the numbers the scripts and the Python side share. worqr._protocol.scripts reads
-- them from this file (`limit(name)`), so each is defined once.
--
-- MAX_TAKE: the most tasks one dequeue takes (its count argument), and the most due
--   delayed tasks one dequeue moves to the back of the queue.
local MAX_TAKE = 1000
