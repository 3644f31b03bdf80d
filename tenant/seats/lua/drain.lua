-- Hand the sampler the seat usage per minute. KEYS[1] holders zset,
-- KEYS[2] the tenant's state hash, whose 'p:<minute>' fields hold the
-- most holders of a minute and 'r:<minute>' its refused logins.
-- Read only: the sampler deletes the past minutes once it stored them.
-- Returns {live holders, current minute, field, value, field, value...}
-- for the p: and r: fields.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minute = math.floor(now / 60000)
local out = {redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf'), minute}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, 1, 2) == 'p:' or string.sub(f, 1, 2) == 'r:' then
    table.insert(out, f)
    table.insert(out, all[i + 1])
  end
end
return out
