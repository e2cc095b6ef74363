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

local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
