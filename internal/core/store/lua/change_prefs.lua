-- change_prefs.lua: replace a customer's preferences, set their new version and
-- keep the consent-history entry of the change in the same hash until it is
-- published (a transactional outbox: the change and its history entry are
-- written in one atomic step, so a crash between the Redis write and the
-- publish loses no history).
--
-- KEYS[1] preferences   hash { v = version, p = Preferences protobuf,
--                              h:<version> = PreferenceChange protobuf not yet published }
-- ARGV[1] expected current version ("0" when none)
-- ARGV[2] the new Preferences (protobuf)
-- ARGV[3] the PreferenceChange (protobuf) recorded for the new version
-- ARGV[4] the new version: above ARGV[1]; when the customer has no record it
--         may be far above, past every version the consent history holds
--         (versions never repeat, whatever Redis loses)
--
-- Returns {new version, previous preferences} or the error "CONFLICT <version>"
-- when the current version is not ARGV[1].

local prefs_key        = KEYS[1]
local expected_version = ARGV[1]
local prefs_blob       = ARGV[2]
local change_blob      = ARGV[3]
local new_version      = ARGV[4]

local current = redis.call('HGET', prefs_key, 'v') or '0'
if expected_version ~= current then
  return redis.error_reply('CONFLICT ' .. current)
end
if tonumber(new_version) <= tonumber(current) then
  return redis.error_reply('ERR new version ' .. new_version .. ' not above ' .. current)
end
local old = redis.call('HGET', prefs_key, 'p') or ''
redis.call('HSET', prefs_key, 'v', new_version, 'p', prefs_blob, 'h:' .. new_version, change_blob)
return {tonumber(new_version), old}
