-- Acquire a seat lease in one atomic step.
-- KEYS[1] holders zset (lease id -> expiry ms), KEYS[2] the tenant's
-- state hash: per-department holder counts (field: department id, or
-- '-'), 'u:<user>' -> the user's latest lease id (left behind when that
-- lease ends: a pointer to a lease hash that is gone means none), 'f' the last fencing token,
-- 'p:<minute>' the most seats held in that minute, 'r:<minute>' logins
-- refused in it. Keeping all of that in one hash lets the common path
-- read it in one HMGET and write it in one HSET: a login costs eight
-- calls, three of them writes.
-- Every other key is built from ARGV[1], the tenant's key prefix, which
-- carries the same {t:<tenant>} hash tag as KEYS, so all of them live in
-- one Redis Cluster slot.
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
local st = KEYS[2]

local function drop(lid, reason)
  local lk = prefix .. 'lease:' .. lid
  local f = redis.call('HMGET', lk, 'user', 'dept')
  if f[2] then redis.call('HINCRBY', st, f[2], -1) end
  redis.call('DEL', lk)
  redis.call('ZREM', KEYS[1], lid)
  redis.call('SET', prefix .. 'gone:' .. lid, reason, 'PX', tomb)
end

-- Expired leases are reclaimed here, so no sweeper is needed.
for _, lid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  drop(lid, 'expired')
end

-- Holders whose lease Redis lost (it restarted empty) and who found no
-- free seat on their heartbeat have a claim on the next one freed, for
-- one TTL, ahead of new logins.
local claims = prefix .. 'claims'
local claimed, mine = redis.call('ZCARD', claims), false
if claimed > 0 then
  redis.call('ZREMRANGEBYSCORE', claims, '-inf', now)
  claimed = redis.call('ZCARD', claims)
  if redis.call('ZSCORE', claims, user) then claimed, mine = claimed - 1, true end
end

local minute = tostring(math.floor(now / 60000))
local ufield, pfield = 'u:' .. user, 'p:' .. minute
-- One read of the state: the user's lease, the fence, this minute's
-- peak, the user's department and every reserved department.
local fields = {ufield, 'f', pfield, dept}
for i = 0, nres - 1 do fields[5 + i] = ARGV[11 + 2 * i] end
local v = redis.call('HMGET', st, unpack(fields))

local old = v[1]
local oldDept, oldWs = nil, ''
if old then
  local f = redis.call('HMGET', prefix .. 'lease:' .. old, 'dept', 'ws')
  if f[1] then oldDept, oldWs = f[1], f[2] else old = nil end
end
-- A returning holder who meanwhile took a seat elsewhere keeps that one.
if resume and old then return {2, oldWs} end

-- The user's own lease (moving to this workstation) does not count.
local total = redis.call('ZCARD', KEYS[1])
if old then total = total - 1 end
local reservedAll, usedReserved, myRes, myUsed = 0, 0, 0, 0
for i = 0, nres - 1 do
  local d, r = ARGV[11 + 2 * i], tonumber(ARGV[12 + 2 * i])
  local u = tonumber(v[5 + i] or '0')
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
if not ok then
  redis.call('HINCRBY', st, 'r:' .. minute, 1)
  if resume then redis.call('ZADD', claims, now + ttl, user) end
  return {0, total, limit, myRes, myUsed, reservedAll}
end
if mine then redis.call('ZREM', claims, user) end

-- The department count is read again after a move, which changed it.
local deptCount = tonumber(v[4] or '0')
if old then
  drop(old, 'moved:' .. ARGV[5])
  deptCount = tonumber(redis.call('HGET', st, dept) or '0')
end
-- The fencing token is seeded from the clock, so tokens keep growing
-- even after Redis lost its data.
local token = tonumber(v[2] or '0')
if token == 0 then token = now * 1000 end
token = token + 1
local tokenStr = string.format('%.0f', token)
local exp = now + ttl
redis.call('HSET', prefix .. 'lease:' .. id, 'user', user, 'dept', dept, 'ws', ARGV[5], 'ip', ARGV[6],
  'since', now, 'hb', now, 'exp', exp, 'token', tokenStr)
redis.call('ZADD', KEYS[1], exp, id)
local held = total + 1
if held > tonumber(v[3] or '0') then
  redis.call('HSET', st, ufield, id, 'f', tokenStr, dept, deptCount + 1, pfield, held)
else
  redis.call('HSET', st, ufield, id, 'f', tokenStr, dept, deptCount + 1)
end
return {1, token, exp, oldWs}
