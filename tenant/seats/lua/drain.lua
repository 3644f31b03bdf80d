-- Hand the sampler the seat usage per minute. KEYS[1] holders zset,
-- KEYS[2] peak zset (minute -> most holders, 'r:'..minute -> refusals).
-- Read only: the sampler deletes the past minutes once it stored them.
-- Returns {live holders, current minute, member, score, member, score...}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minute = math.floor(now / 60000)
local out = {redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf'), minute}
local all = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #all do table.insert(out, all[i]) end
return out
