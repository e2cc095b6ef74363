-- arbitrate_join.lua: enter an intent in its customer's arbitration: the
-- competitors for the customer's slots at one moment, decided in rank order
-- (decide.lua makes an intent wait while a live competitor ranks before it).
--
-- KEYS[1] arbitration zset of the customer ({c:<customer>}), member = rank,
--         score = lease end in Redis clock ms
--
-- ARGV[1] the intent's rank member (priority, then age, then id: lowest first)
-- ARGV[2] lease, ms: how long the entry holds its place without a renewal
--
-- Returns the number of competitors in the arbitration, this one included.

local arb_key = KEYS[1]
local member  = ARGV[1]
local lease   = tonumber(ARGV[2])

local t = redis.call('TIME')
local rnow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', arb_key, '-inf', rnow)
redis.call('ZADD', arb_key, rnow + lease, member)
redis.call('PEXPIRE', arb_key, lease * 2)
return redis.call('ZCARD', arb_key)
