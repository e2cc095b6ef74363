-- digest_fold.lua: fold one intent into the customer's pending digest for its
-- channel and record its decision (outcome folded, with the digest's id), in
-- one step, atomically with the check of the preferences version and of the
-- reply window the rules assumed (as decide.lua). Idempotent by intent id: an
-- intent decided before replays its record and folds nothing.
--
-- All keys share the customer's hash tag {c:<customer>} (Redis Cluster safe).
-- Runs after records.lua (record_of, put_record, adopt_legacy) and guard.lua (stale).
-- KEYS[1] decisions            hash, one record per intent id (see records.lua)
-- KEYS[2] preferences          hash { v = version, p = Preferences protobuf }
-- KEYS[3] reply windows        hash { <family>:<thread id> = window end, unix ms }
-- KEYS[4] open digest          string: the id of the digest folds on this channel go to
-- KEYS[5] digest numbers       hash { <channel> = number of the last digest opened }
-- KEYS[6] the intent's record as written before records were one hash per
--         customer (a string key); moved into KEYS[1] when found
-- Each pending digest is kept under ARGV[15] .. <id> (in the same hash tag):
--   <id>    hash { at = release unix ms, trigger, n = intents }
--   <id>:o  list of intent ids, in the order they were folded
--   <id>:i  hash { <intent id> = ContactIntent protobuf }
-- A digest that reaches max pending is closed (no longer open) and due at
-- once; the next fold opens the next digest.
--
-- ARGV[1]  preferences version the rules were evaluated with ("0": none)
-- ARGV[2]  the thread the intent replies to ("" when none)
-- ARGV[3]  the end of that thread's reply window the rules assumed ("" when none)
-- ARGV[4]  the Decision the rules made (protobuf), without its digest id
-- ARGV[5]  intent id
-- ARGV[6]  the intent (ContactIntent protobuf, with its payload)
-- ARGV[7]  when this intent wants the digest released, unix ms
-- ARGV[8]  why: "schedule" or "wake"
-- ARGV[9]  when a full digest may be released (now, or the end of quiet hours), unix ms
-- ARGV[10] max pending: the digest is released once this many are folded
-- ARGV[11] decision retention, ms
-- ARGV[12] the message being decided, "<stream>/<sequence>" ("" unknown)
-- ARGV[13] channel
-- ARGV[14] digest id prefix: the id is the prefix and the digest's number
-- ARGV[15] key prefix of pending digests, "<prefix>:{c:<customer>}:dg:"
-- ARGV[16] now: the decision's timestamp, unix ms (the record's retention)
--
-- Returns one of:
--   {"replay", record}                 decided before; nothing changed
--   {"stale", version, prefs, reply}   evaluate again (see decide.lua)
--   {"done", record}                   folded and recorded
-- The record is decide.lua's, its decision with field 13 (digest_id) appended:
-- a protobuf parser takes the last value of a field, so the Go side needs no
-- second encoding step.

local records_key = KEYS[1]
local prefs_key   = KEYS[2]
local replies_key = KEYS[3]
local open_key    = KEYS[4]
local numbers_key = KEYS[5]
local legacy_key  = KEYS[6]

local prefs_version = ARGV[1]
local thread        = ARGV[2]
local assumed_reply = ARGV[3]
local decision      = ARGV[4]
local intent_id     = ARGV[5]
local intent        = ARGV[6]
local release_at    = tonumber(ARGV[7])
local trigger       = ARGV[8]
local wake_at       = tonumber(ARGV[9])
local max_pending   = tonumber(ARGV[10])
local retention_ms  = tonumber(ARGV[11])
local source        = ARGV[12]
local channel       = ARGV[13]
local id_prefix     = ARGV[14]
local digest_keys   = ARGV[15]
local now           = tonumber(ARGV[16])

local stored = redis.call('HMGET', records_key, intent_id, '')
local rec = record_of(stored[1]) or adopt_legacy(records_key, intent_id, legacy_key, now, retention_ms, stored[2])
if rec then
  return {'replay', rec}
end

local changed = stale(prefs_key, replies_key, prefs_version, thread, assumed_reply)
if changed then
  return changed
end

local id = redis.call('GET', open_key)
if not id then
  id = id_prefix .. redis.call('HINCRBY', numbers_key, channel, 1)
  redis.call('SET', open_key, id)
  redis.call('HSET', digest_keys .. id, 'at', release_at, 'trigger', trigger, 'n', 0)
end
local pending_key = digest_keys .. id
local order_key   = pending_key .. ':o'
local intents_key = pending_key .. ':i'

-- A second guard against folding twice: the intent is in the open digest
-- already (its record expired, or was lost).
if redis.call('HEXISTS', intents_key, intent_id) == 0 then
  if release_at < tonumber(redis.call('HGET', pending_key, 'at')) then
    redis.call('HSET', pending_key, 'at', release_at, 'trigger', trigger)
  end
  local n = redis.call('HINCRBY', pending_key, 'n', 1)
  redis.call('RPUSH', order_key, intent_id)
  redis.call('HSET', intents_key, intent_id, intent)
  if max_pending > 0 and n >= max_pending then
    redis.call('DEL', open_key)
    if wake_at < tonumber(redis.call('HGET', pending_key, 'at')) then
      redis.call('HSET', pending_key, 'at', wake_at, 'trigger', 'count')
    end
  end
end

-- field 13, wire type 2 (tag 106), varint length, bytes
local function varint(x)
  local out = ''
  while x >= 128 do
    out = out .. string.char(x % 128 + 128)
    x = math.floor(x / 128)
  end
  return out .. string.char(x)
end
rec = '\30' .. decision .. string.char(106) .. varint(#id) .. id
if source ~= '' then
  rec = '\28' .. source .. '\28' .. rec
end
put_record(records_key, intent_id, rec, now, retention_ms, stored[2])
return {'done', rec}
