-- compare_and_set.lua: replace (or delete) a decision record only if it is
-- still the one the caller read, so that a release, a cancellation and a
-- late redelivery of the same intent cannot overwrite one another.
--
-- KEYS[1] decision record   string (see decide.lua)
--
-- ARGV[1] the record the caller read ("" when there was none)
-- ARGV[2] the new record; "" deletes the record
-- ARGV[3] retention of the new record, ms
--
-- Returns 1 when the record was replaced or deleted, 0 when it had changed.

local record_key      = KEYS[1]
local expected_record = ARGV[1]
local new_record      = ARGV[2]
local retention_ms    = ARGV[3]

local cur = redis.call('GET', record_key) or ''
if cur ~= expected_record then
  return 0
end
if new_record == '' then
  redis.call('DEL', record_key)
else
  redis.call('SET', record_key, new_record, 'PX', retention_ms)
end
return 1
