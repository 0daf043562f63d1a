-- next_ids(seq, n): reserve n fresh numbers from a queue's counter ({P:Q}:seq); returns
-- id(i), the i-th of them (1 to n, ascending and consecutive) as a decimal string. Process
-- ids, dead letter ids and delayed entries are numbered with it, and nothing else may draw
-- from the counter.
--
-- The numbers stay unique when Redis loses data: FLUSHALL, a restart without persistence, a
-- restart from an older RDB snapshot or an AOF that lost its last writes, a failover to a
-- replica that lagged, an evicted counter. Each number is block * 1000 + index (index 0 to
-- 999), and the counter holds the last block handed out. A block is never below the server's
-- clock in microseconds when it is handed out: when the counter is behind the clock (a queue
-- left quiet, or a counter lost or rolled back), it jumps to the clock. A script that takes
-- a block takes more than a microsecond (and one that takes k blocks handles more than
-- 1000 * (k - 1) entries), so the counter never gets ahead of the clock; every number issued
-- before a loss is therefore below the clock at any later moment, and every number issued
-- after it is above them all. (Why blocks, not one number per microsecond: then a batch
-- would be ahead of the clock unless its script spent a microsecond per task, and a
-- dequeue of 1000 spends about 1.6 to 3.5 ms on a small machine, so a fast one would open
-- a window in which a loss repeats numbers. A block is a microsecond for up to 1000.)
--
-- It assumes that the server's clock does not step back. If it does, by d (or a replica is
-- promoted whose clock is d behind its master's), the numbers issued in the last d before a
-- loss, less the time between the loss and the next draw, can be handed out again; without
-- a loss nothing changes: the counter goes on counting past the clock.
--
-- Exactness: a block (microseconds since the epoch, about 1.8e15) is exact in Lua's numbers
-- (doubles: integers up to 2^53 = 9.0e15, until the year 2255; check_counter refuses a
-- counter beyond), but a number (about 1.8e18: 19 digits until the year 2286) is not. So a
-- number is only ever a string in the scripts, made by string.format("%d...") from exact
-- parts (Lua's tostring and .. would print 1.8e+15): never tonumber one; compare numbers with
-- by_number (include by_number) and pad them with pad_number.
local function next_ids(seq, n)
  local blocks = math.ceil(n / 1000)
  local t = redis.call("TIME")
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local last = redis.call("INCRBY", seq, blocks)
  if last - blocks + 1 < now then
    last = now + blocks - 1
    redis.call("SET", seq, string.format("%d", last))
  end
  local first = last - blocks + 1  -- >= 1, so a number has no leading zero
  return function(i)
    local k = i - 1
    return string.format("%d%03d", first + math.floor(k / 1000), k % 1000)
  end
end

-- pad_number(s): the number string s zero-padded to 20 digits, so that members ordered as
-- strings are ordered as numbers.
local function pad_number(s)
  return string.rep("0", 20 - #s) .. s
end
