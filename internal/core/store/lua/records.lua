-- records.lua: a customer's decision records, one hash per customer; the
-- functions below are put in front of the scripts that read or write
-- records (decide.lua, record_cas.lua), so both keep them the same way.
--
-- decisions hash   { <intent id> = "<expires, unix s>\27<record>",
--                    ""          = when the hash itself expires, unix s }
--
-- One hash instead of a key per intent saves Redis's per-key overhead (key,
-- object, expiry entry: about 100 B) and keeps small customers in the compact
-- listpack encoding. Redis before 7.4 cannot expire a hash field, so each
-- record carries its own expiry, in the decision's clock: a record is kept
-- until the first write after its expiry that extends the hash's life (at
-- most an eighth of the retention later), or with the hash, which expires an
-- eighth of the retention at most after its latest record. A record is thus
-- kept for at least the retention, and replayed for as long as it is kept.

-- record_of returns a stored record without its expiry, and the expiry (unix
-- s); nil when there is none.
local function record_of(stored)
  if not stored then
    return nil
  end
  local i = string.find(stored, '\27', 1, true)
  if not i then
    return nil
  end
  return string.sub(stored, i + 1), tonumber(string.sub(stored, 1, i - 1))
end

-- put_record stores rec for intent id, kept for retention_ms from now;
-- hash_until is the hash's own expiry as read (field "", nil when absent).
-- When the record would outlive the hash, expired records are removed and
-- the hash's life is extended past the record's by an eighth of the retention.
local function put_record(key, id, rec, now, retention_ms, hash_until)
  local expires = math.ceil((now + retention_ms) / 1000)
  local stored = string.format('%d', expires) .. '\27' .. rec
  if hash_until and expires <= tonumber(hash_until) then
    redis.call('HSET', key, id, stored)
    return
  end
  if hash_until then
    local all = redis.call('HGETALL', key)
    local gone = {}
    for j = 1, #all, 2 do
      local _, expires_at = record_of(all[j + 1])
      if all[j] ~= '' and (expires_at or 0) * 1000 <= now then
        gone[#gone + 1] = all[j]
        if #gone == 1000 then
          redis.call('HDEL', key, unpack(gone))
          gone = {}
        end
      end
    end
    if #gone > 0 then
      redis.call('HDEL', key, unpack(gone))
    end
  end
  local until_s = expires + math.ceil(retention_ms / 8000)
  redis.call('HSET', key, id, stored, '', string.format('%d', until_s))
  -- PEXPIRE, not PEXPIREAT: the expiry is in the decision's clock, the
  -- key's life in Redis's, as a record's PX used to be.
  redis.call('PEXPIRE', key, until_s * 1000 - now)
end

-- adopt_legacy moves a record written before records were kept in one hash
-- (a string key per intent, legacy_key) into the hash, with the life it had
-- left (retention_ms when it had no expiry), and returns it; nil when there
-- is none. Every record is thus found however it was written, until the
-- last one from before the change expires; after one decision retention on
-- this version, the lookup finds nothing and can be removed.
local function adopt_legacy(key, id, legacy_key, now, retention_ms, hash_until)
  local rec = redis.call('GET', legacy_key)
  if not rec then
    return nil
  end
  local left = redis.call('PTTL', legacy_key)
  if left < 0 then
    left = retention_ms
  end
  redis.call('DEL', legacy_key)
  put_record(key, id, rec, now, left, hash_until)
  return rec
end
