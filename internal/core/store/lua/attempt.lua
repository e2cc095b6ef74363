-- attempt.lua: count what became of the attempts to process one message, so
-- that a message whose processing keeps killing the gatekeeper can be told
-- from one whose gatekeepers were killed by something else.
--
-- KEYS[1] attempts record   hash: started, solo_started, finished,
--                           solo_finished, failed (counts)
--
-- ARGV[1] mark: "begin" (a start: solo when an earlier start never
--         finished, shared otherwise), "finish", "solo_finish", "fail", or
--         "" to read only
-- ARGV[2] retention of the record, ms
--
-- Returns {started, solo_started, finished, solo_finished, failed} as they
-- were before the mark, then 1 when a begin was counted as solo, else 0.

local record_key = KEYS[1]
local mark = ARGV[1]
local retention_ms = tonumber(ARGV[2])

local fields = {'started', 'solo_started', 'finished', 'solo_finished', 'failed'}
local raw = redis.call('HMGET', record_key, unpack(fields))
local out = {}
for i = 1, #fields do
  out[i] = tonumber(raw[i]) or 0
end
local started, solo_started, finished, solo_finished = out[1], out[2], out[3], out[4]

local field = nil
local solo = 0
if mark == 'begin' then
  if started > finished or solo_started > solo_finished then
    solo = 1
    field = 'solo_started'
  else
    field = 'started'
  end
elseif mark == 'finish' then
  field = 'finished'
elseif mark == 'solo_finish' then
  field = 'solo_finished'
elseif mark == 'fail' then
  field = 'failed'
end
if field then
  redis.call('HINCRBY', record_key, field, 1)
  redis.call('PEXPIRE', record_key, retention_ms)
end
out[6] = solo
return out
