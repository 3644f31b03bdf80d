-- Acquire a seat lease in one atomic step.
-- KEYS[1] holders zset (lease id -> expiry ms), KEYS[2] per-department
-- counts hash. Every other key is built from ARGV[1], the tenant's key
-- prefix, which carries the same {t:<tenant>} hash tag as KEYS, so all of
-- them live in one Redis Cluster slot.
-- ARGV: prefix, lease id, user, department ('-' for none), workstation,
-- ip, ttl ms, limit, resume (1 when a holder whose lease Redis lost
-- takes a seat again), n reservations, then n pairs (department, seats).
-- Returns {1, fencing token, expiry ms, moved-from workstation},
-- {2, workstation} when resuming a user who holds a lease elsewhere, or
-- {0, holders, limit, reserved for the department, department holders,
-- reserved for all departments}.
local prefix, id, user, dept = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, limit, resume, nres = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9] == '1', tonumber(ARGV[10])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tomb = 3600000

local function drop(lid, reason)
  local lk = prefix .. 'lease:' .. lid
  local f = redis.call('HMGET', lk, 'user', 'dept')
  if f[2] then redis.call('HINCRBY', KEYS[2], f[2], -1) end
  if f[1] then
    local uk = prefix .. 'user:' .. f[1]
    if redis.call('GET', uk) == lid then redis.call('DEL', uk) end
  end
  redis.call('DEL', lk)
  redis.call('ZREM', KEYS[1], lid)
  redis.call('SET', prefix .. 'gone:' .. lid, reason, 'PX', tomb)
end

-- Expired leases are reclaimed here, so no sweeper is needed.
for _, lid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  drop(lid, 'expired')
end

local uk = prefix .. 'user:' .. user
local old = redis.call('GET', uk)
local oldDept, oldWs = nil, ''
if old then
  local f = redis.call('HMGET', prefix .. 'lease:' .. old, 'dept', 'ws')
  if f[1] then oldDept, oldWs = f[1], f[2] else old = nil end
end

-- Holders whose lease Redis lost (it restarted empty) and who found no
-- free seat on their heartbeat have a claim on the next one freed, for
-- one TTL, ahead of new logins.
local claims = prefix .. 'claims'
redis.call('ZREMRANGEBYSCORE', claims, '-inf', now)
local claimed = redis.call('ZCARD', claims)
if redis.call('ZSCORE', claims, user) then claimed = claimed - 1 end

-- A returning holder who meanwhile took a seat elsewhere keeps that one.
if resume and old then return {2, oldWs} end

-- The user's own lease (moving to this workstation) does not count.
local total = redis.call('ZCARD', KEYS[1])
if old then total = total - 1 end
local reservedAll, usedReserved, myRes, myUsed = 0, 0, 0, 0
for i = 0, nres - 1 do
  local d, r = ARGV[11 + 2 * i], tonumber(ARGV[12 + 2 * i])
  local u = tonumber(redis.call('HGET', KEYS[2], d) or '0')
  if old and oldDept == d then u = u - 1 end
  reservedAll = reservedAll + r
  usedReserved = usedReserved + math.min(u, r)
  if d == dept then myRes, myUsed = r, u end
end
-- Holders of a department sit in its reserved seats first; everyone
-- else, and the overflow, shares what is left.
local floating = limit - reservedAll
local floatingUsed = total - usedReserved + claimed
local ok = total + claimed < limit and ((myUsed < myRes) or (floatingUsed < floating))
local minute = tostring(math.floor(now / 60000))
if not ok then
  redis.call('HINCRBY', prefix .. 'peak', 'r:' .. minute, 1)
  if resume then redis.call('ZADD', claims, now + ttl, user) end
  return {0, total, limit, myRes, myUsed, reservedAll}
end
redis.call('ZREM', claims, user)

if old then drop(old, 'moved:' .. ARGV[5]) end
local fence = prefix .. 'fence'
-- Seeded from the clock so tokens keep growing even after Redis lost
-- its data.
if redis.call('EXISTS', fence) == 0 then redis.call('SET', fence, string.format('%.0f', now * 1000)) end
local token = redis.call('INCR', fence)
local exp = now + ttl
redis.call('HSET', prefix .. 'lease:' .. id, 'user', user, 'dept', dept, 'ws', ARGV[5], 'ip', ARGV[6],
  'since', now, 'hb', now, 'exp', exp, 'token', token)
redis.call('ZADD', KEYS[1], exp, id)
redis.call('SET', uk, id)
redis.call('HINCRBY', KEYS[2], dept, 1)
local held = total + 1
local peak = prefix .. 'peak'
if held > tonumber(redis.call('HGET', peak, minute) or '0') then
  redis.call('HSET', peak, minute, held)
end
return {1, token, exp, oldWs}
