-- open_reply.lua: open (or extend) the reply window of a customer's thread,
-- and forget windows that have closed.
--
-- KEYS[1] reply windows   hash { <family>:<thread id> = window end, unix ms }, in the
--                         customer's slot {c:<customer>} so decide.lua reads it
-- ARGV[1] thread: "<channel family>:<thread id>" (policy.ReplyThread)
-- ARGV[2] window end, unix ms
-- ARGV[3] now, unix ms
--
-- Returns the thread's window end after the call (a later end already
-- recorded is kept), unix ms.

local replies_key   = KEYS[1]
local thread        = ARGV[1]
local window_end_ms = tonumber(ARGV[2])
local now           = tonumber(ARGV[3])

local want = window_end_ms
local latest = want
local all = redis.call('HGETALL', replies_key)
for i = 1, #all, 2 do
  local ends = tonumber(all[i + 1])
  if all[i] == thread then
    want = math.max(want, ends)
  elseif ends <= now then
    redis.call('HDEL', replies_key, all[i])
  else
    latest = math.max(latest, ends)
  end
end
redis.call('HSET', replies_key, thread, want)
latest = math.max(latest, want)
if latest > now then
  redis.call('PEXPIRE', replies_key, latest - now)
end
return want
