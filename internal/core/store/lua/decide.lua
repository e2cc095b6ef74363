-- decide.lua: record one intent's decision, atomically with the check of the
-- customer's preferences version, of the reply window the rules assumed, and
-- of every rolling-window cap.
--
-- All keys share the customer's hash tag {c:<customer>} (Redis Cluster safe).
-- Runs after records.lua (record_of, put_record, adopt_legacy) and guard.lua (stale).
-- KEYS[1] decisions         hash, one record per intent id (see records.lua)
-- KEYS[2] preferences       hash { v = version, p = Preferences protobuf }
-- KEYS[3] contact ledger    zset, member "<intent>\31<channel>\31<category>\31<topic>\31<sender>\31<kind>\31<class>",
--                           score = contact time in unix ms; kind is "u" for an
--                           unsolicited agent contact, class a one-letter class code
-- KEYS[4] reply windows     hash { <family>:<thread id> = window end, unix ms }
-- KEYS[5] uncapped contacts zset like KEYS[3], for contacts no cap counts (critical and
--                           transactional ones that are not unsolicited): kept apart so
--                           that the ledger the caps read stays as small as the caps allow
--                           (members carry the intent's subject_ref as an 8th field)
-- KEYS[6] the intent's record as written before records were one hash per
--         customer (a string key); moved into KEYS[1] when found
-- KEYS[7] arbitration      zset, member "<rank>" (priority, then age, then id:
--                          lowest first), score = lease end, Redis clock ms
-- KEYS[8] arbitration wins hash { <intent id> = priority }, for explanations
--                          (KEYS[7] and KEYS[8] only when arbitrating)
-- KEYS[#KEYS], the last (7, or 9 when arbitrating): inbound events, zset, member
--                           "<kind>\31<channel>\31<subject>\31<service>\31<thread>",
--                           score = event time in unix ms (store/events.go)
--
-- ARGV[1] preferences version the rules were evaluated with ("0": none)
-- ARGV[2] now: the decision's timestamp, unix ms
-- ARGV[3] decision retention, ms
-- ARGV[4] ledger retention, ms (the longest window any cap reads)
-- ARGV[5] ledger member for this contact
-- ARGV[6] "1" when the rules approved (check caps, then count); "0" otherwise (record only)
-- ARGV[7] the Decision the rules made (protobuf)
-- ARGV[8] the thread the intent replies to, "<family>:<thread id>" ("" when none)
-- ARGV[9] the end of that thread's reply window the rules assumed ("" when none)
-- ARGV[10] "1" to count this contact in the ledger (KEYS[3]), "0" in KEYS[5]
-- ARGV[11] number of caps; then 8 ARGV per cap:
--         rule id, reason code, ledger field (0 any, 1 channel, 2 category,
--         3 topic, 4 sender, 5 kind), value, window ms, max, "1" enforce | "0" shadow,
--         class codes counted ("" every class)
-- ARGV[12 + 8 * number of caps]: the message being decided,
--         "<stream>/<sequence>" ("" unknown), kept in the record so that a later
--         delivery can tell a redelivery of this message (same source) from a
--         producer's republish of the intent (another source)
-- ARGV[13 + 8 * number of caps], after it: the intent id, the record's field in KEYS[1]
-- Then priority, reserved budget, arbitration and waiting (store/arbitrate.go),
-- named below (ext_from ...): the intent's deadline ms ("" none), the start of
-- its wait for a slot ms, its arbitration member ("" not arbitrating), when it
-- joined the arbitration (ms, decision clock), "1" to decide without waiting
-- for its turn, the lease of its turn ms, its priority; then 3 ARGV per cap:
-- slots reserved above its priority, the priority they are reserved for, the
-- cap's maximum wait ms ("" suppresses).
--
-- The ARGV after the start of the wait may be left off at the end (see
-- store.trimDefaults): a missing one reads as "" or 0, as the script reads
-- an empty one, so a new one there must mean nothing when "" or 0.
--
-- Regulation packs, after the budgets (pack_from = the first ARGV after them):
-- ARGV[pack_from + i], i = 0..caps-1: the cap's pack fields, "" for a policy cap, else
--         "<channels>\31<days>\31<pack>\31<version>\31<section>": channels (",voice,sms,",
--         "" every channel) limits the contacts the cap counts; the fields are appended
--         to the cap's hit
-- ARGV[pack_from + caps] number of cooldowns; then 9 ARGV per cooldown: rule id, reason
--         code, event kind, event field (0 any, 2 channel, 3 subject, 4 service; an event
--         of service "" matches every service), value, since (unix ms: events at or after
--         it count), period ms, "1" enforce | "0" shadow, and the pack fields
--         "<kind>\31<days>\31<pack>\31<version>\31<section>" appended to its hit
-- A pack's hit has a tenth field (the detail, "" when none) and then its pack fields;
-- a cooldown's is "rule\31code\31field\31value\31period\310\31event_ms\310\31enforce\31\31<pack fields>".
--
-- Returns one of:
--   {"replay", record}                 the intent was decided before; nothing changed
--   {"stale", version, prefs, reply}   preferences or the reply window differ from
--                                      what the rules saw; nothing changed, evaluate again
--   {"done", hits}                     recorded (and counted when approved); hits as
--                                      in a record: the caller has the rest
--
-- A record is "\28<source>\28<hits>\30<decision>", or "<hits>\30<decision>" when
-- the source is unknown (and in records written before sources were kept):
-- hits are caps that said no, joined by \29, each
-- "rule\31code\31field\31value\31window\31max\31count\31next_ms\31enforce". The
-- first enforcing hit turns an approval into a suppression. enforce "d" defers
-- it to next_ms instead; a tenth field (detail) follows for the codes of
-- reserved budget, lost arbitration and an exceeded wait.

local records_key   = KEYS[1]
local prefs_key     = KEYS[2]
local ledger_key    = KEYS[3]
local replies_key   = KEYS[4]
local uncapped_key  = KEYS[5]
local events_key    = KEYS[#KEYS] -- the last key: 6, or 8 when arbitrating

local prefs_version = ARGV[1]
local now           = tonumber(ARGV[2])
local retention_ms  = tonumber(ARGV[3])
local ledger_ms     = tonumber(ARGV[4])
local member        = ARGV[5]
local approved      = ARGV[6] == '1'
local decision      = ARGV[7]
local thread        = ARGV[8]
local assumed_reply = ARGV[9]
local capped        = ARGV[10] == '1'
local ncaps         = tonumber(ARGV[11])
local caps_from     = 12 -- the first of the 8 ARGV of each cap
local source        = ARGV[caps_from + ncaps * 8]
local intent_id     = ARGV[caps_from + ncaps * 8 + 1]

-- Numbers go to Redis as strings: a Lua number is formatted with %.14g
-- (about 0.9 µs in Redis 7.0's Lua, twice string.format's %d for an
-- integer), so the script formats each integer it sends once, with %d,
-- and sends the ARGV it received as they are.
local fmt           = string.format
local trim_bound    = fmt('%d', now - ledger_ms) -- contacts at or before it are past the ledger's retention

local legacy_key    = KEYS[6]
local arb_key       = KEYS[7]
local winners_key   = KEYS[8]
local ext_from      = caps_from + ncaps * 8 + 2
local deadline_ms   = tonumber(ARGV[ext_from])
local wait_since    = tonumber(ARGV[ext_from + 1]) or now
local arb_member    = ARGV[ext_from + 2] or ''
local arb_since     = tonumber(ARGV[ext_from + 3]) or now
local arb_force     = ARGV[ext_from + 4] == '1'
local arb_lease     = tonumber(ARGV[ext_from + 5]) or 0
local priority      = ARGV[ext_from + 6] or ''
local budget_from   = ext_from + 7 -- the first of the 3 ARGV of each cap's budget
local pack_from     = budget_from + ncaps * 3 -- the regulation packs' ARGV
local ncool         = tonumber(ARGV[pack_from + ncaps] or '0')
local cool_from     = pack_from + ncaps + 1 -- the first of the 9 ARGV of each cooldown
local code_reserved = '20'
local code_lost     = '21'
local code_waited   = '22'

-- budget returns the reserved slots and the maximum wait of the i-th cap.
local function budget(i)
  local b = budget_from + i * 3
  return tonumber(ARGV[b]) or 0, ARGV[b + 1] or '', tonumber(ARGV[b + 2])
end

-- cap returns the i-th cap (0-based) of the ARGV tail by name, with its
-- budget. All its fields are in the one constructor, which sizes the table
-- once: a field added afterwards makes Lua grow it (a rehash).
local function cap(i)
  local b = caps_from + i * 8
  local reserve, reserved_for, max_wait = budget(i)
  local extra = ARGV[pack_from + i] or ''
  local channels = ''
  if extra ~= '' then
    channels = string.match(extra, '^[^\31]*')
  end
  return {
    rule = ARGV[b], code = ARGV[b + 1], field = tonumber(ARGV[b + 2]), value = ARGV[b + 3],
    window = tonumber(ARGV[b + 4]), limit = tonumber(ARGV[b + 5]), enforce = ARGV[b + 6],
    -- as received, for the cap's hit
    field_arg = ARGV[b + 2], window_arg = ARGV[b + 4], limit_arg = ARGV[b + 5],
    classes = ARGV[b + 7], extra = extra, channels = channels,
    reserve = reserve, reserved_for = reserved_for, max_wait = max_wait,
  }
end

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

-- member_fields splits a ledger member as split does. A member of today's
-- eight fields is split by one string.match (about 0.9 µs against 2.2 µs
-- for split's string.find and string.sub per field); a member written
-- before a field existed has fewer, and goes to split.
local member_pattern = '^' .. string.rep('([^\31]*)\31', 7) .. '([^\31]*)$'
local function member_fields(m)
  local f1, f2, f3, f4, f5, f6, f7, f8 = string.match(m, member_pattern)
  if f1 then
    return {f1, f2, f3, f4, f5, f6, f7, f8}
  end
  return split(m)
end

local stored = redis.call('HMGET', records_key, intent_id, '')
local rec = record_of(stored[1]) or adopt_legacy(records_key, intent_id, legacy_key, now, retention_ms, stored[2])
if rec and arb_member ~= '' then
  redis.call('ZREM', arb_key, arb_member) -- decided before: it competes no more
end
if rec then
  return {'replay', rec}
end

local changed = stale(prefs_key, replies_key, prefs_version, thread, assumed_reply)
if changed then
  return changed
end

-- Arbitration: an intent waits its turn while a competitor of the customer
-- ranked before it (higher priority, or the same and older) holds a live
-- lease; its own lease is renewed while it waits.
if arb_member ~= '' and not arb_force then
  local t = redis.call('TIME')
  local rnow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', arb_key, '-inf', rnow)
  -- (the competitors are few: those of one customer within a moment)
  for _, m in ipairs(redis.call('ZRANGE', arb_key, 0, -1)) do
    if m < arb_member then
      redis.call('ZADD', arb_key, rnow + arb_lease, arb_member)
      redis.call('PEXPIRE', arb_key, arb_lease * 2)
      return {'wait', m}
    end
  end
end

local hits = {}
local blocked = false

if approved then
  -- Cooldowns: an inbound event of the kind, in scope, since the cooldown's
  -- start closes contact.
  for i = 0, ncool - 1 do
    local b = cool_from + i * 9
    local kind, field, value = ARGV[b + 2], tonumber(ARGV[b + 3]), ARGV[b + 4]
    local enforce = ARGV[b + 7]
    local raw = redis.call('ZRANGEBYSCORE', events_key, ARGV[b + 5], '+inf', 'WITHSCORES')
    for j = #raw - 1, 1, -2 do -- the newest event first
      local ev = split(raw[j])
      if ev[1] == kind and (field == 0 or ev[field] == value or (field == 4 and ev[4] == '')) then
        hits[#hits + 1] = table.concat({ARGV[b], ARGV[b + 1], field, value, ARGV[b + 6], 0, raw[j + 1], 0, enforce, '', ARGV[b + 8]}, '\31')
        if enforce == '1' then
          blocked = true
        end
        break
      end
    end
    if blocked then
      break
    end
  end

  if ncaps > 0 and not blocked then
    local caps = {}
    local longest = 0
    for i = 0, ncaps - 1 do
      local c = cap(i)
      caps[i + 1] = c
      if c.window > longest then
        longest = c.window
      end
    end
    -- Read the ledger once; split each member into its fields. (Nothing
    -- past the ledger's retention counts, trimmed yet or not.)
    local raw = redis.call('ZRANGEBYSCORE', ledger_key, fmt('(%d', now - math.min(longest, ledger_ms)), '+inf', 'WITHSCORES')
    local entries = {}
    for j = 1, #raw, 2 do
      entries[#entries + 1] = {member_fields(raw[j]), tonumber(raw[j + 1])}
    end

    for _, c in ipairs(caps) do
      local since = now - c.window
      local times, counted = {}, {}
      for _, e in ipairs(entries) do
        -- fields[1] is the intent id; ledger field k is fields[k + 1]; the
        -- class code is fields[7].
        if e[2] > since and (c.field == 0 or e[1][c.field + 1] == c.value)
            and (c.classes == '' or string.find(c.classes, e[1][7] or '?', 1, true))
            and (c.channels == '' or string.find(c.channels, ',' .. e[1][2] .. ',', 1, true)) then
          times[#times + 1] = e[2]
          counted[#times] = e[1]
        end
      end
      -- The intent may use the slots not reserved above its priority.
      local usable = c.limit - c.reserve
      if #times >= usable then
        -- The window opens again when the oldest contact that keeps it full
        -- slides out (ZRANGEBYSCORE returned the contacts oldest first).
        local next_ms = times[#times - usable + 1] + c.window
        local code, enforce, detail = c.code, c.enforce, nil
        if arb_member ~= '' and times[usable] >= arb_since then
          -- The last slot it could use was taken while it waited its turn.
          local w = counted[usable]
          code, detail = code_lost, (redis.call('HGET', winners_key, w[1]) or '') .. ':' .. (w[7] or '')
        elseif #times < c.limit then
          code, detail = code_reserved, c.reserved_for
        end
        if enforce == '1' and c.max_wait then
          if deadline_ms and next_ms > deadline_ms then
            code, detail = code_waited, 'deadline'
          elseif next_ms > wait_since + c.max_wait then
            code, detail = code_waited, tostring(c.max_wait)
          else
            enforce = 'd'
          end
        end
        local hit = {c.rule, code, c.field_arg, c.value, c.window_arg, c.limit_arg, fmt('%d', #times), fmt('%d', next_ms), enforce}
        if detail then
          hit[10] = detail
        end
        if c.extra ~= '' then
          -- a pack's cap: the detail (possibly empty), then its pack fields
          hit[10], hit[11] = detail or '', c.extra
        end
        hits[#hits + 1] = table.concat(hit, '\31')
        if enforce ~= '0' then
          blocked = true
          break
        end
      end
    end
  end
  if not blocked then
    local ledger = ledger_key
    if not capped then
      ledger = uncapped_key
    end
    -- A ledger grows only here, so trimming it here bounds it as before
    -- (the contacts of one retention up to its newest); the caps read only
    -- their windows, so a decision that counts nothing needs no trim (a
    -- write, however little it removes).
    redis.call('ZREMRANGEBYSCORE', ledger, '-inf', trim_bound)
    redis.call('ZADD', ledger, ARGV[2], member) -- now, as received
    -- The ledger outlives its newest contact by ledger_ms at least. Its
    -- life is extended only when less than that is left, by an eighth more,
    -- so that most approvals write (and append to the AOF) one command
    -- fewer than with a PEXPIRE each.
    if redis.call('PTTL', ledger) < ledger_ms then
      redis.call('PEXPIRE', ledger, fmt('%d', ledger_ms + math.floor(ledger_ms / 8)))
    end
    if arb_member ~= '' then
      redis.call('HSET', winners_key, string.match(member, '^[^\31]*'), priority)
      redis.call('PEXPIRE', winners_key, arb_lease * 4)
    end
  end
end
if arb_member ~= '' then
  redis.call('ZREM', arb_key, arb_member)
end

rec = table.concat(hits, '\29') .. '\30' .. decision
if source ~= '' then
  rec = '\28' .. source .. '\28' .. rec
end
put_record(records_key, intent_id, rec, now, retention_ms, stored[2])
return {'done', table.concat(hits, '\29')}
