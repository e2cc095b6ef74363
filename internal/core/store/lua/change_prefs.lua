-- change_prefs.lua: replace a customer's preferences, bump their version and
-- keep the consent-history entry of the change in the same hash until it is
-- published (a transactional outbox: the change and its history entry are
-- written in one atomic step, so a crash between the Redis write and the
-- publish loses no history).
--
-- KEYS[1] preferences   hash { v = version, p = Preferences protobuf,
--                              h:<version> = PreferenceChange protobuf not yet published }
-- ARGV[1] expected current version ("0" when none)
-- ARGV[2] the new Preferences (protobuf)
-- ARGV[3] the PreferenceChange (protobuf) recorded for version ARGV[1] + 1
--
-- Returns {new version, previous preferences} or the error "CONFLICT <version>"
-- when the current version is not ARGV[1].

local current = redis.call('HGET', KEYS[1], 'v') or '0'
if ARGV[1] ~= current then
  return redis.error_reply('CONFLICT ' .. current)
end
local old = redis.call('HGET', KEYS[1], 'p') or ''
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 'p', ARGV[2], 'h:' .. v, ARGV[3])
return {v, old}
