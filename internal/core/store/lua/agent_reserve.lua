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

local ledger_key  = KEYS[1]
local pending_key = KEYS[2]
local intent_id   = ARGV[1]
local now         = tonumber(ARGV[2])
local window      = tonumber(ARGV[3])
local limit       = tonumber(ARGV[4])
local hold_ms     = tonumber(ARGV[5])
local enforce     = ARGV[6]

local pending = redis.call('HGETALL', pending_key)
for i = 1, #pending, 2 do
  if tonumber(pending[i + 1]) <= now then
    redis.call('ZREM', ledger_key, pending[i])
    redis.call('HDEL', pending_key, pending[i])
  end
end
redis.call('ZREMRANGEBYSCORE', ledger_key, '-inf', now - window)

if redis.call('ZSCORE', ledger_key, intent_id) then
  return {'ok', redis.call('ZCOUNT', ledger_key, '(' .. (now - window), '+inf') - 1, 0}
end

local count = redis.call('ZCARD', ledger_key)
local status = 'ok'
local next_ms = 0
if count >= limit then
  local oldest = redis.call('ZRANGE', ledger_key, count - limit, count - limit, 'WITHSCORES')
  next_ms = tonumber(oldest[2]) + window
  if enforce == '1' then
    return {'full', count, next_ms}
  end
  status = 'over'
end
redis.call('ZADD', ledger_key, now, intent_id)
redis.call('HSET', pending_key, intent_id, now + hold_ms)
redis.call('PEXPIRE', ledger_key, window + hold_ms)
redis.call('PEXPIRE', pending_key, hold_ms)
return {status, count, next_ms}
