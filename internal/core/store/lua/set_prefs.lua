-- set_prefs.lua: replace a customer's preferences and bump their version, so
-- that every decision evaluated with an older version is refused by
-- decide.lua and evaluated again (read-your-writes for opt-outs).
--
-- KEYS[1] preferences   hash { v = version, p = Preferences protobuf }
-- ARGV[1] expected current version, or "" to write unconditionally
-- ARGV[2] the new Preferences (protobuf)
--
-- Returns {new version, previous preferences} or the error "CONFLICT <version>"
-- when ARGV[1] is set and does not match.

local current = redis.call('HGET', KEYS[1], 'v') or '0'
if ARGV[1] ~= '' and ARGV[1] ~= current then
  return redis.error_reply('CONFLICT ' .. current)
end
local old = redis.call('HGET', KEYS[1], 'p') or ''
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 'p', ARGV[2])
return {v, old}
