-- outbox_index.lua: the set of customers whose preferences hash may hold
-- unpublished consent-history entries, so a sweeper can find them without
-- scanning every key. It lives in its own slot; entries are added after the
-- change and removed once the customer's outbox is empty, so it may name a
-- customer with nothing pending (harmless) but never misses one for long:
-- the next change of that customer publishes its older entries first.
--
-- KEYS[1] set of customer ids
-- ARGV[1] "add" | "rem" | "list"; ARGV[2] the customer for add and rem
-- Returns the members for "list", else the SADD/SREM reply.

local index_key = KEYS[1]
local op        = ARGV[1]
local customer  = ARGV[2]

if op == 'add' then
  return redis.call('SADD', index_key, customer)
elseif op == 'rem' then
  return redis.call('SREM', index_key, customer)
end
return redis.call('SMEMBERS', index_key)
