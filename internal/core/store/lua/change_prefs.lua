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

local prefs_key        = KEYS[1]
local expected_version = ARGV[1]
local prefs_blob       = ARGV[2]
local change_blob      = ARGV[3]

local current = redis.call('HGET', prefs_key, 'v') or '0'
if expected_version ~= current then
  return redis.error_reply('CONFLICT ' .. current)
end
local old = redis.call('HGET', prefs_key, 'p') or ''
local v = redis.call('HINCRBY', prefs_key, 'v', 1)
redis.call('HSET', prefs_key, 'p', prefs_blob, 'h:' .. v, change_blob)
return {v, old}
