//! The Lua scripts of the session store (store/sessions): each runs atomically in Redis, so a
//! check, its expiry tests and its touch, or a stamp swap, cannot interleave with another
//! request's.

use common::redis::LuaScript;

/// Creates a session and its index entry, prunes the index of sessions that ended, ends the
/// oldest sessions beyond the per-account cap, and makes sure the user's stamp key exists (its
/// own stamp if none; the key's lifetime reaches past the newest session). Answers the stamp
/// Redis holds and how many sessions the cap ended. The work is bounded by the cap: the index
/// holds at most cap + 1 live entries when it is read. KEYS: session, index, stamp. ARGV:
/// session TTL, index/stamp TTL, session id, digest, stamp, cap, session key prefix (the
/// user's tag; digests are `<tag>.<hex>`), then field/value pairs.
const CREATE_LUA: &str = r"
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[2])
local live = {}
local entries = redis.call('HGETALL', KEYS[2])
for i = 1, #entries, 2 do
  local hex = string.match(entries[i + 1], '^[^.]*%.(.*)$')
  local created = hex and redis.call('HGET', ARGV[7] .. hex, 'created_at')
  if created then
    live[#live + 1] = {id = entries[i], key = ARGV[7] .. hex, created = tonumber(created) or 0}
  else
    redis.call('HDEL', KEYS[2], entries[i])
  end
end
local evicted = 0
local cap = tonumber(ARGV[6])
if #live > cap then
  table.sort(live, function(a, b) return a.created < b.created end)
  for i = 1, #live - cap do
    if live[i].id ~= ARGV[3] then
      redis.call('DEL', live[i].key)
      redis.call('HDEL', KEYS[2], live[i].id)
      evicted = evicted + 1
    end
  end
end
redis.call('SET', KEYS[3], ARGV[5], 'NX')
redis.call('EXPIRE', KEYS[3], ARGV[2])
return {redis.call('GET', KEYS[3]), evicted}
";

/// Looks a session up, refuses it when its stamp is not the user's current one (and deletes
/// it) or when it is past its idle or absolute end, and touches it when due: all at once, and
/// only on a session key that exists. KEYS: session. ARGV: stamp key prefix, now (unix
/// seconds), idle timeout (s), touch interval (s). Answers the session's fields, nil when
/// there is no session, or the status `ended` for one that ended.
const CHECK_LUA: &str = r"
local flat = redis.call('HGETALL', KEYS[1])
if #flat == 0 then return false end
local h = {}
for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
local user, stamp = h['user_id'], h['stamp']
local last, expires = tonumber(h['last_seen_at']), tonumber(h['expires_at'])
if not user or not stamp or not last or not expires then return false end
local current = redis.call('GET', ARGV[1] .. user)
if current ~= stamp then
  redis.call('DEL', KEYS[1])
  return {ok = 'ended'}
end
local now, idle = tonumber(ARGV[2]), tonumber(ARGV[3])
if now >= expires or now >= last + idle then return {ok = 'ended'} end
if now - last >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[2])
  redis.call('EXPIRE', KEYS[1], math.max(1, math.min(now + idle, expires) - now))
  for i = 1, #flat, 2 do
    if flat[i] == 'last_seen_at' then flat[i + 1] = ARGV[2] end
  end
end
return flat
";

/// Sets the stamp to ARGV[2] only while it still is ARGV[1]. KEYS: stamp. ARGV: expected, new,
/// TTL.
const SWAP_STAMP_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
";

/// Marks every listed session of a user whose key still exists as verified. KEYS: the
/// session keys.
const MARK_VERIFIED_LUA: &str = r"
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'email_verified', '1')
    n = n + 1
  end
end
return n
";

/// Re-stamps a session (the one a password change keeps) if it still exists.
const RESTAMP_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'stamp', ARGV[1])
  return 1
end
return 0
";

// Each script hashed once per process (`LuaScript`): the check runs in front of every request
// of every application behind the forward-auth.
pub(super) static CREATE: LuaScript = LuaScript::new(CREATE_LUA);
pub(super) static CHECK: LuaScript = LuaScript::new(CHECK_LUA);
pub(super) static SWAP_STAMP: LuaScript = LuaScript::new(SWAP_STAMP_LUA);
pub(super) static MARK_VERIFIED: LuaScript = LuaScript::new(MARK_VERIFIED_LUA);
pub(super) static RESTAMP: LuaScript = LuaScript::new(RESTAMP_LUA);
