-- decide.lua: record one intent's decision, atomically with the check of the
-- customer's preferences version, of the reply window the rules assumed, and
-- of every rolling-window cap.
--
-- All keys share the customer's hash tag {c:<customer>} (Redis Cluster safe).
-- KEYS[1] decision record   string, PX = decision retention
-- KEYS[2] preferences       hash { v = version, p = Preferences protobuf }
-- KEYS[3] contact ledger    zset, member "<intent>\31<channel>\31<category>\31<topic>\31<sender>\31<kind>\31<class>",
--                           score = contact time in unix ms; kind is "u" for an
--                           unsolicited agent contact, class a one-letter class code
-- KEYS[4] reply windows     hash { <thread id> = window end, unix ms }
-- KEYS[5] uncapped contacts zset like KEYS[3], for contacts no cap counts (critical and
--                           transactional ones that are not unsolicited): kept apart so
--                           that the ledger the caps read stays as small as the caps allow
--
-- ARGV[1] preferences version the rules were evaluated with ("0": none)
-- ARGV[2] now: the decision's timestamp, unix ms
-- ARGV[3] decision retention, ms
-- ARGV[4] ledger retention, ms (the longest window any cap reads)
-- ARGV[5] ledger member for this contact
-- ARGV[6] "1" when the rules approved (check caps, then count); "0" otherwise (record only)
-- ARGV[7] the Decision the rules made (protobuf)
-- ARGV[8] the thread the intent replies to ("" when none)
-- ARGV[9] the end of that thread's reply window the rules assumed ("" when none)
-- ARGV[10] "1" to count this contact in the ledger (KEYS[3]), "0" in KEYS[5]
-- ARGV[11] number of caps; then 8 ARGV per cap:
--         rule id, reason code, ledger field (0 any, 1 channel, 2 category,
--         3 topic, 4 sender, 5 kind), value, window ms, max, "1" enforce | "0" shadow,
--         class codes counted ("" every class)
--
-- Returns one of:
--   {"replay", record}                 the intent was decided before; nothing changed
--   {"stale", version, prefs, reply}   preferences or the reply window differ from
--                                      what the rules saw; nothing changed, evaluate again
--   {"done", record}                   recorded (and counted when approved)
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
local reply = ''
if ARGV[8] ~= '' then
  reply = redis.call('HGET', KEYS[4], ARGV[8]) or ''
end
if version ~= ARGV[1] or reply ~= ARGV[9] then
  return {'stale', version, redis.call('HGET', KEYS[2], 'p') or '', reply}
end

local now = tonumber(ARGV[2])
local hits = {}
local blocked = false

if ARGV[6] == '1' then
  local ncaps = tonumber(ARGV[11])
  if ncaps > 0 then
    local retention = tonumber(ARGV[4])
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - retention)

    -- Read the ledger once; split each member into its fields.
    local longest = 0
    for i = 0, ncaps - 1 do
      longest = math.max(longest, tonumber(ARGV[12 + i * 8 + 4]))
    end
    local raw = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. (now - longest), '+inf', 'WITHSCORES')
    local entries = {}
    for j = 1, #raw, 2 do
      entries[#entries + 1] = {split(raw[j]), tonumber(raw[j + 1])}
    end

    for i = 0, ncaps - 1 do
      local b = 12 + i * 8
      local field = tonumber(ARGV[b + 2])
      local value = ARGV[b + 3]
      local window = tonumber(ARGV[b + 4])
      local limit = tonumber(ARGV[b + 5])
      local classes = ARGV[b + 7]
      local since = now - window
      local times = {}
      for _, e in ipairs(entries) do
        -- fields[1] is the intent id; ledger field k is fields[k + 1]; the
        -- class code is fields[7].
        if e[2] > since and (field == 0 or e[1][field + 1] == value)
            and (classes == '' or string.find(classes, e[1][7] or '?', 1, true)) then
          times[#times + 1] = e[2]
        end
      end
      if #times >= limit then
        -- The window opens again when the oldest contact that keeps it full
        -- slides out (ZRANGEBYSCORE returned the contacts oldest first).
        local next_ms = times[#times - limit + 1] + window
        hits[#hits + 1] = table.concat({ARGV[b], ARGV[b + 1], field, value, window, limit, #times, next_ms, ARGV[b + 6]}, '\31')
        if ARGV[b + 6] == '1' then
          blocked = true
          break
        end
      end
    end
  end
  if not blocked then
    local ledger = KEYS[3]
    if ARGV[10] ~= '1' then
      ledger = KEYS[5]
    end
    if ledger ~= KEYS[3] or tonumber(ARGV[11]) == 0 then
      -- (the caps' ledger was trimmed above when caps were checked)
      redis.call('ZREMRANGEBYSCORE', ledger, '-inf', now - tonumber(ARGV[4]))
    end
    redis.call('ZADD', ledger, now, ARGV[5])
    redis.call('PEXPIRE', ledger, ARGV[4])
  end
end

rec = table.concat(hits, '\29') .. '\30' .. ARGV[7]
redis.call('SET', KEYS[1], rec, 'PX', ARGV[3])
return {'done', rec}
