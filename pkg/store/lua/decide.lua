-- decide.lua: record one intent's decision, atomically with the check of the
-- customer's preferences version and of every rolling-window cap.
--
-- All keys share the customer's hash tag {c:<customer>} (Redis Cluster safe).
-- KEYS[1] decision record   string, PX = decision retention
-- KEYS[2] preferences       hash { v = version, p = Preferences protobuf }
-- KEYS[3] contact ledger    zset, member "<intent>\31<channel>\31<category>\31<topic>\31<sender>",
--                           score = contact time in unix ms
--
-- ARGV[1] preferences version the rules were evaluated with ("0": none)
-- ARGV[2] now: the decision's timestamp, unix ms
-- ARGV[3] decision retention, ms
-- ARGV[4] ledger retention, ms (the longest window any cap reads)
-- ARGV[5] ledger member for this contact
-- ARGV[6] "1" when the rules approved (check caps, then count); "0" otherwise (record only)
-- ARGV[7] the Decision the rules made (protobuf)
-- ARGV[8] number of caps; then 7 ARGV per cap:
--         rule id, reason code, ledger field (0 any, 1 channel, 2 category,
--         3 topic, 4 sender), value, window ms, max, "1" enforce | "0" shadow
--
-- Returns one of:
--   {"replay", record}          the intent was decided before; nothing changed
--   {"stale", version, prefs}   preferences changed; nothing changed, evaluate again
--   {"done", record}            recorded (and counted when approved)
--
-- A record is "<hits>\30<decision>": hits are caps that said no, joined by \29,
-- each "rule\31code\31field\31value\31window\31max\31count\31next_ms\31enforce". The
-- first enforcing hit turns an approval into a suppression.

local function split(s)
  local out, start = {}, 1
  while true do
    local i = string.find(s, '\31', start, true)
    if not i then
      out[#out + 1] = string.sub(s, start)
      return out
    end
    out[#out + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end

local rec = redis.call('GET', KEYS[1])
if rec then
  return {'replay', rec}
end

local version = redis.call('HGET', KEYS[2], 'v') or '0'
if version ~= ARGV[1] then
  return {'stale', version, redis.call('HGET', KEYS[2], 'p') or ''}
end

local now = tonumber(ARGV[2])
local hits = {}
local blocked = false

if ARGV[6] == '1' then
  local ncaps = tonumber(ARGV[8])
  if ncaps > 0 then
    local retention = tonumber(ARGV[4])
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - retention)

    -- A customer-wide cap is a ZCOUNT (O(log n)); the ledger is read and
    -- split only when a scoped cap needs it, once: a customer with many
    -- contacts must not cost O(contacts) per decision when the
    -- customer-wide cap already says no.
    local entries
    local function read_entries()
      local longest = 0
      for i = 0, ncaps - 1 do
        longest = math.max(longest, tonumber(ARGV[9 + i * 7 + 4]))
      end
      local raw = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. (now - longest), '+inf', 'WITHSCORES')
      entries = {}
      for j = 1, #raw, 2 do
        entries[#entries + 1] = {split(raw[j]), tonumber(raw[j + 1])}
      end
    end

    for i = 0, ncaps - 1 do
      local b = 9 + i * 7
      local field = tonumber(ARGV[b + 2])
      local value = ARGV[b + 3]
      local window = tonumber(ARGV[b + 4])
      local limit = tonumber(ARGV[b + 5])
      local since = now - window
      local count, next_ms = 0, 0
      if field == 0 then
        count = redis.call('ZCOUNT', KEYS[3], '(' .. since, '+inf')
        if count >= limit then
          -- The window opens again when the oldest contact that keeps it
          -- full slides out.
          local t = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. since, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
          next_ms = tonumber(t[2]) + window
        end
      else
        if not entries then
          read_entries()
        end
        local times = {}
        for _, e in ipairs(entries) do
          -- fields[1] is the intent id; ledger field k is fields[k + 1].
          if e[2] > since and e[1][field + 1] == value then
            times[#times + 1] = e[2]
          end
        end
        count = #times
        if count >= limit then
          next_ms = times[count - limit + 1] + window
        end
      end
      if count >= limit then
        hits[#hits + 1] = table.concat({ARGV[b], ARGV[b + 1], field, value, window, limit, count, next_ms, ARGV[b + 6]}, '\31')
        if ARGV[b + 6] == '1' then
          blocked = true
          break
        end
      end
    end
  end
  if not blocked then
    redis.call('ZADD', KEYS[3], now, ARGV[5])
    redis.call('PEXPIRE', KEYS[3], ARGV[4])
  end
end

rec = table.concat(hits, '\29') .. '\30' .. ARGV[7]
redis.call('SET', KEYS[1], rec, 'PX', ARGV[3])
return {'done', rec}
