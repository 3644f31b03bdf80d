-- Hand the sampler the seat usage per minute. KEYS[1] holders zset,
-- KEYS[2] peak hash (minute -> most holders, 'r:'..minute -> refusals).
-- Read only: the sampler deletes the past minutes once it stored them.
-- Returns {live holders, current minute, field, value, field, value...}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minute = math.floor(now / 60000)
local out = {redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf'), minute}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local f, v = all[i], all[i + 1]
  table.insert(out, f)
  table.insert(out, v)
end
return out
