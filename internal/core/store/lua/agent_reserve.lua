-- agent_reserve.lua: reserve one unit of an agent's budget of unsolicited
-- contacts before the customer's decision, which lives in another slot.
-- The reservation is confirmed (agent_settle.lua) when the decision approved
-- the contact and released when it did not; one never settled (a crashed
-- gatekeeper) stops counting after the hold, so budget never leaks for long.
--
-- All keys share the agent's hash tag {a:<agent>}.
-- KEYS[1] agent ledger   zset, member intent id, score contact time in unix ms
-- KEYS[2] pending        hash { <intent id> = hold deadline, unix ms }
--
-- ARGV[1] intent id
-- ARGV[2] now, unix ms
-- ARGV[3] window, ms
-- ARGV[4] max contacts in the window
-- ARGV[5] hold, ms
-- ARGV[6] "1" enforce (refuse when full) | "0" shadow (always reserve)
--
-- Returns {status, count, next_ms}: status "ok" (reserved, or already
-- reserved by this intent), "full" (refused; next_ms is when a unit frees
-- up) or "over" (shadow: reserved although full); count is the contacts in
-- the window before this one.

local now = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])

local pending = redis.call('HGETALL', KEYS[2])
for i = 1, #pending, 2 do
  if tonumber(pending[i + 1]) <= now then
    redis.call('ZREM', KEYS[1], pending[i])
    redis.call('HDEL', KEYS[2], pending[i])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)

if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return {'ok', redis.call('ZCOUNT', KEYS[1], '(' .. (now - window), '+inf') - 1, 0}
end

local count = redis.call('ZCARD', KEYS[1])
local status = 'ok'
local next_ms = 0
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  next_ms = tonumber(oldest[2]) + window
  if ARGV[6] == '1' then
    return {'full', count, next_ms}
  end
  status = 'over'
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[5]))
redis.call('PEXPIRE', KEYS[1], window + tonumber(ARGV[5]))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[5]))
return {status, count, next_ms}
