#!lua flags=no-writes
-- readonly.lua: a prelude that makes the script after it a dry run. It is
-- prepended to decide.lua (see store.checkScript), so that a "may I
-- contact?" check runs the very logic the gate decides with (replay,
-- preferences version, reply window, every cap) and changes nothing.
--
-- The script after it sees a local `redis` whose call and pcall pass the
-- reads below through to Redis and answer the writes below without doing
-- them; any other command is an error, so that a new command in the decide
-- script cannot slip through unclassified. The no-writes flag makes Redis
-- itself refuse any write that got past this table.
--
-- KEYS, ARGV and the return value are those of the script it precedes.
-- A write the script reads back afterwards would read the state before it:
-- decide.lua reads the ledger only through score bounds at or after its
-- trims, and reads nothing it wrote.

local real_redis = redis

local reads = {
  GET = true, MGET = true, STRLEN = true, EXISTS = true, PTTL = true, TTL = true,
  HGET = true, HMGET = true, HGETALL = true, HEXISTS = true, HLEN = true,
  ZRANGE = true, ZRANGEBYSCORE = true, ZREVRANGEBYSCORE = true, ZCOUNT = true,
  ZCARD = true, ZSCORE = true, ZRANK = true,
  SISMEMBER = true, SMEMBERS = true, SCARD = true, LRANGE = true, LLEN = true, TIME = true,
}

-- What each write would have answered, near enough for the scripts that
-- ignore it.
local writes = {
  SET = {ok = 'OK'}, PEXPIRE = 1, EXPIRE = 1, PEXPIREAT = 1, DEL = 1,
  ZADD = 1, ZREM = 1, ZREMRANGEBYSCORE = 0, ZINCRBY = '1',
  HSET = 1, HDEL = 1, HINCRBY = 1, INCR = 1, INCRBY = 1, SADD = 1, SREM = 1,
}

local function dry(cmd, ...)
  local name = string.upper(cmd)
  if reads[name] then
    return real_redis.call(cmd, ...)
  end
  local reply = writes[name]
  if reply ~= nil then
    return reply
  end
  error('readonly: ' .. name .. ' is neither a known read nor a known write')
end

local redis = setmetatable({
  call = dry,
  pcall = function(...)
    local ok, reply = pcall(dry, ...)
    if ok then
      return reply
    end
    return real_redis.error_reply(tostring(reply))
  end,
}, {__index = real_redis})

