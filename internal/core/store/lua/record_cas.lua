-- record_cas.lua: replace (or delete) a decision record only if it is
-- still the one the caller read, so that a release, a cancellation, a late
-- redelivery and a claim of the same intent cannot overwrite one another.
-- Runs after records.lua (record_of, put_record, adopt_legacy).
--
-- KEYS[1] decisions hash     (see records.lua)
-- KEYS[2] the intent's record as written before records were one hash per
--         customer (a string key); moved into KEYS[1] when found
--
-- ARGV[1] intent id
-- ARGV[2] the record the caller read ("" when there was none)
-- ARGV[3] the new record; "" deletes the record
-- ARGV[4] now, unix ms
-- ARGV[5] retention of the new record, ms
--
-- Returns 1 when the record was replaced or deleted, 0 when it had changed.

local records_key     = KEYS[1]
local intent_id       = ARGV[1]
local expected_record = ARGV[2]
local new_record      = ARGV[3]
local now             = tonumber(ARGV[4])
local retention_ms    = tonumber(ARGV[5])

local stored = redis.call('HMGET', records_key, intent_id, '')
local cur = record_of(stored[1])
if not cur then
  cur = adopt_legacy(records_key, intent_id, KEYS[2], now, retention_ms, stored[2])
  if cur then
    stored[2] = redis.call('HGET', records_key, '')
  end
end
cur = cur or ''
if cur ~= expected_record then
  return 0
end
if new_record == '' then
  redis.call('HDEL', records_key, intent_id)
else
  put_record(records_key, intent_id, new_record, now, retention_ms, stored[2])
end
return 1
