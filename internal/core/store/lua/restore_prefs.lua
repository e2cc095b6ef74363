-- restore_prefs.lua: put back a customer's preferences at a version taken
-- from the consent history (disaster recovery). Never goes backwards: a
-- customer whose current version is already at or past ARGV[1] is left alone.
--
-- KEYS[1] preferences hash { v, p }
-- ARGV[1] version
-- ARGV[2] Preferences (protobuf); "" restores "no preferences"
--
-- Returns 1 when restored, 0 when the current version was not older.

local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'p', ARGV[2])
return 1
