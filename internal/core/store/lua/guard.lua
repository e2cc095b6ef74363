-- guard.lua: the check a script makes before it records a decision: the
-- preferences version and the reply window the rules were evaluated with
-- must still be those Redis holds, so that an acknowledged opt-out is
-- honoured by the very next decision (read-your-writes). Put in front of
-- decide.lua and digest_fold.lua (see store.go and digest.go), so that both
-- check it the same way.

-- stale returns the reply {"stale", version, prefs, reply} with what Redis
-- holds when the version or the reply window differ from what the rules
-- saw (prefs_version, and assumed_reply for the thread, "" when none); nil
-- when they are the same.
local function stale(prefs_key, replies_key, prefs_version, thread, assumed_reply)
  local version = redis.call('HGET', prefs_key, 'v') or '0'
  local reply = ''
  if thread ~= '' then
    reply = redis.call('HGET', replies_key, thread) or ''
  end
  if version ~= prefs_version or reply ~= assumed_reply then
    return {'stale', version, redis.call('HGET', prefs_key, 'p') or '', reply}
  end
  return nil
end
