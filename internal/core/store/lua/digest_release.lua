-- digest_release.lua: release a pending digest exactly once: move the
-- customer's pending digest for a channel, if it is still the one named, to
-- its released record, and return its intents. A digest released before
-- replays its record; one that is not pending (released and forgotten, or
-- never opened) is "gone".
--
-- All keys share the customer's hash tag {c:<customer>} (Redis Cluster safe).
-- KEYS[1] pending digest   hash { at, trigger, n } (see digest_fold.lua)
-- KEYS[2] pending order    list of intent ids
-- KEYS[3] pending intents  hash { <intent id> = ContactIntent protobuf }
-- KEYS[4] released digest  hash { s = source, t = trigger, r = released unix ms,
--                          n = intents, i<k> = k-th intent id, b<k> = its intent },
--                          PX = decision retention
-- KEYS[5] open digest      string: the id of the channel's open digest
--
-- ARGV[1] digest id
-- ARGV[2] now, unix ms
-- ARGV[3] decision retention, ms
-- ARGV[4] the message releasing it, "<stream>/<sequence>" ("" unknown)
--
-- Returns {"done" | "replay", source, trigger, released ms, n, id1, intent1, ...}
-- or {"gone"}.

local pending_key  = KEYS[1]
local order_key    = KEYS[2]
local intents_key  = KEYS[3]
local released_key = KEYS[4]
local open_key     = KEYS[5]

local digest_id    = ARGV[1]
local now          = ARGV[2]
local retention_ms = ARGV[3]
local source       = ARGV[4]

local function reply(status)
  local r = redis.call('HMGET', released_key, 's', 't', 'r', 'n')
  local out = {status, r[1], r[2], r[3], r[4]}
  for k = 1, tonumber(r[4]) do
    local f = redis.call('HMGET', released_key, 'i' .. k, 'b' .. k)
    out[#out + 1] = f[1]
    out[#out + 1] = f[2]
  end
  return out
end

if redis.call('EXISTS', released_key) == 1 then
  return reply('replay')
end
if redis.call('EXISTS', pending_key) == 0 then
  return {'gone'}
end

local ids = redis.call('LRANGE', order_key, 0, -1)
redis.call('HSET', released_key, 's', source, 't', redis.call('HGET', pending_key, 'trigger'), 'r', now, 'n', #ids)
for k, id in ipairs(ids) do
  redis.call('HSET', released_key, 'i' .. k, id, 'b' .. k, redis.call('HGET', intents_key, id) or '')
end
redis.call('DEL', pending_key, order_key, intents_key)
if redis.call('GET', open_key) == digest_id then
  redis.call('DEL', open_key)
end
redis.call('PEXPIRE', released_key, retention_ms)
return reply('done')
