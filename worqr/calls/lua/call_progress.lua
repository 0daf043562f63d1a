-- call_progress: store the progress a running call reported, and tell its caller.
--
-- Guarantees: only the worker that runs the call can report its progress: one that no longer
-- owns the process (reaped, finished) gets PROCESS_LOST and changes nothing.
--
-- KEYS[1] processes  HASH  the reporting worker's processes on this queue: seq -> payload
-- KEYS[2] record     HASH  the call's record ({P:Q}:call:<id>)
-- ARGV[1] seq              the process's sequence number
-- ARGV[2] progress         the reported value, as JSON
-- Returns: {0} | {-1} PROCESS_LOST
-- Publishes: "call\n<id>\nprogress" on the caller's notice channel (include call_record)
-- @include check_types
-- @include owned
-- @include server_time
-- @include publish
-- @include call_record
local processes, record = KEYS[1], KEYS[2]
local seq, progress = ARGV[1], ARGV[2]
local type_error = check_types({{processes, "hash"}, {record, "hash"}})
if type_error then
  return type_error
end

local task = owned_task(processes, seq)
if not task then
  return {-1}
end
local key, id, caller = call_record(queue_tag(processes), task)
if key == record and redis.call("EXISTS", record) == 1 then
  redis.call("HSET", record, "progress", progress)
  publish(queue_tag(processes) .. ":calls:" .. caller, "call\n" .. id .. "\nprogress")
end
return {0}
