-- restore_prefs.lua: put back a customer's preferences at a version taken
-- from the consent history (disaster recovery). Never goes backwards: a
-- customer whose current version is already at or past ARGV[1] is left alone.
--
-- KEYS[1] preferences hash { v, p }
-- ARGV[1] version
-- ARGV[2] Preferences (protobuf); "" restores "no preferences"
--
-- Returns 1 when restored, 0 when the current version was not older.

local prefs_key  = KEYS[1]
local version    = ARGV[1]
local prefs_blob = ARGV[2]

local current = tonumber(redis.call('HGET', prefs_key, 'v') or '0')
if current >= tonumber(version) then
  return 0
end
redis.call('HSET', prefs_key, 'v', version, 'p', prefs_blob)
return 1
