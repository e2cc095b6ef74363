-- outbox.lua: read or acknowledge the consent-history entries a customer's
-- preferences hash holds until they are published (see change_prefs.lua).
--
-- KEYS[1] preferences hash
-- ARGV[1] "list": return {version, change, version, change, ...}
--         "done": delete the entry of version ARGV[2]; return how many remain
--         (any number of versions may follow ARGV[1])

local prefs_key = KEYS[1]
local op        = ARGV[1]

if op == 'list' then
  local out = {}
  local all = redis.call('HGETALL', prefs_key)
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'h:' then
      out[#out + 1] = string.sub(all[i], 3)
      out[#out + 1] = all[i + 1]
    end
  end
  return out
end
for i = 2, #ARGV do
  redis.call('HDEL', prefs_key, 'h:' .. ARGV[i])
end
local left = 0
for _, f in ipairs(redis.call('HKEYS', prefs_key)) do
  if string.sub(f, 1, 2) == 'h:' then
    left = left + 1
  end
end
return left
