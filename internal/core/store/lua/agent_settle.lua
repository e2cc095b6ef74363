-- agent_settle.lua: settle a reservation made by agent_reserve.lua once the
-- customer's decision is recorded.
--
-- All keys share the agent's hash tag {a:<agent>}.
-- KEYS[1] agent ledger   zset, member intent id, score contact time in unix ms
-- KEYS[2] pending        hash { <intent id> = hold deadline, unix ms }
--
-- ARGV[1] intent id
-- ARGV[2] "confirm" (the contact was approved: it stays counted) or
--         "release" (it was not: the unit goes back to the budget)
--
-- Only a pending reservation is released: a confirmed contact stays counted.
--
-- Returns 1 when a pending reservation was settled, 0 when there was none
-- (settled before, or never made).

local ledger_key  = KEYS[1]
local pending_key = KEYS[2]
local intent_id   = ARGV[1]
local op          = ARGV[2]

local was = redis.call('HDEL', pending_key, intent_id)
if op == 'release' and was == 1 then
  redis.call('ZREM', ledger_key, intent_id)
end
return was
