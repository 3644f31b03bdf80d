-- Renew a live lease held by the user. KEYS[1] holders zset.
-- ARGV: prefix, lease id, user, ttl ms.
-- Returns {1, fencing token, expiry ms, since ms} or {0, reason}: reason
-- is what ended the lease ('moved:<workstation>', 'released',
-- 'expired') or '' when nothing is known (e.g. Redis lost its data).
local prefix, id, user, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lk = prefix .. 'lease:' .. id
local exp = redis.call('ZSCORE', KEYS[1], id)
if exp and tonumber(exp) > now then
  local f = redis.call('HMGET', lk, 'user', 'token', 'since')
  if f[1] == user then
    local e = now + ttl
    redis.call('ZADD', KEYS[1], 'XX', e, id)
    redis.call('HSET', lk, 'hb', now, 'exp', e)
    return {1, tonumber(f[2]), e, tonumber(f[3])}
  end
  return {0, 'foreign'}
end
if exp then return {0, 'expired'} end
return {0, redis.call('GET', prefix .. 'gone:' .. id) or ''}
