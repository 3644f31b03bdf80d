-- Release a lease. KEYS[1] holders zset, KEYS[2] the tenant's state hash
-- (see acquire.lua).
-- ARGV: prefix, lease id ('' = the user's current lease), user ('' =
-- any holder: an admin's force-release), reason to leave behind for the
-- holder ('' = none).
-- Returns {1, user, lease id} or {0}.
local prefix, id, user, reason = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if id == '' then
  id = redis.call('HGET', KEYS[2], 'u:' .. user)
  if not id then return {0} end
end
local lk = prefix .. 'lease:' .. id
local f = redis.call('HMGET', lk, 'user', 'dept')
if not f[1] or (user ~= '' and f[1] ~= user) then return {0} end
redis.call('HINCRBY', KEYS[2], f[2], -1)
-- The user's 'u:' pointer stays: it points at a lease hash that is gone,
-- which acquire and release read as "no lease".
redis.call('DEL', lk)
redis.call('ZREM', KEYS[1], id)
if reason ~= '' then redis.call('SET', prefix .. 'gone:' .. id, reason, 'PX', 3600000) end
return {1, f[1], id}
