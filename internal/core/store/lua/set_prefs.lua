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

local prefs_key        = KEYS[1]
local expected_version = ARGV[1]
local prefs_blob       = ARGV[2]

local current = redis.call('HGET', prefs_key, 'v') or '0'
if expected_version ~= '' and expected_version ~= current then
  return redis.error_reply('CONFLICT ' .. current)
end
local old = redis.call('HGET', prefs_key, 'p') or ''
local v = redis.call('HINCRBY', prefs_key, 'v', 1)
redis.call('HSET', prefs_key, 'p', prefs_blob)
return {v, old}
