-- record_event.lua: keep one inbound event (a conversation, a refusal, a STOP
-- keyword) of a customer for the cooldowns that read it in decide.lua.
--
-- KEYS[1] inbound events  zset, member "<kind>\31<channel>\31<subject>\31<service>\31<thread>",
--                         score = event time, unix ms; under the customer's hash tag
-- ARGV[1] member
-- ARGV[2] event time, unix ms
-- ARGV[3] now, unix ms
-- ARGV[4] retention ms: the longest cooldown the policy reads
--
-- Returns the number of events kept. Recording the same event twice (a
-- redelivery) changes nothing.

local events_key = KEYS[1]
local member     = ARGV[1]
local at         = tonumber(ARGV[2])
local now        = tonumber(ARGV[3])
local retention  = tonumber(ARGV[4])

redis.call('ZREMRANGEBYSCORE', events_key, '-inf', '(' .. (now - retention))
redis.call('ZADD', events_key, at, member)
if redis.call('PTTL', events_key) < retention then
  redis.call('PEXPIRE', events_key, retention)
end
return redis.call('ZCARD', events_key)
