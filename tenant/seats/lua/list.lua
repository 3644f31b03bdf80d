-- List the live leases. KEYS[1] holders zset. ARGV: prefix.
-- Returns a flat array, 9 fields per lease: id, user, dept, ws, ip,
-- since, hb, exp, token.
local prefix = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local f = redis.call('HMGET', prefix .. 'lease:' .. id, 'user', 'dept', 'ws', 'ip', 'since', 'hb', 'exp', 'token')
  if f[1] then
    table.insert(out, id)
    for i = 1, 8 do table.insert(out, f[i]) end
  end
end
return out
