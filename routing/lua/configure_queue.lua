-- Create or change a queue. ARGV[3..]: id, channels ("chat,email"),
-- required skills ("skill=min,..."), priority, relax_after ms (0 never),
-- strategy, offer timeout ms, max misses (0 never).
-- Every agent's membership in the queue is recomputed and its waiting
-- contacts are refiled (priority and relax time may have changed) and
-- routed best first, since new requirements may match idle agents.
local function op()
  advance()
  local id = ARGV[3]
  redis.call('HSET', P .. 'q:' .. id, 'chans', ARGV[4], 'skills', ARGV[5], 'prio', ARGV[6], 'relax', ARGV[7],
    'strat', ARGV[8], 'offer', ARGV[9], 'maxm', ARGV[10])
  if redis.call('SADD', P .. 'queues', id) == 1 then QL = nil end
  QC[id] = nil
  local q = queue(id)
  for _, aid in ipairs(redis.call('SMEMBERS', P .. 'agents')) do
    local x = agent(aid)
    for _, ch in ipairs(CHANNELS) do
      if (x.cap[ch] or 0) > 0 then redis.call('ZREM', P .. 'i:' .. id .. ':' .. ch, aid) end
    end
    local mem = {}
    for _, m in ipairs(x.mem) do
      if m.q ~= id then mem[#mem + 1] = m end
    end
    local sum = qualify(x, q)
    local nm
    if sum then
      nm = {q = id, strat = q.strat, sum = sum}
      mem[#mem + 1] = nm
    end
    x.mem = mem
    save_mem(x)
    if nm then
      for _, ch in ipairs(CHANNELS) do
        if free(x, ch) then redis.call('ZADD', P .. 'i:' .. id .. ':' .. ch, score(x, nm), aid) end
      end
    end
  end
  local cs = {}
  for _, ch in ipairs(CHANNELS) do
    for _, pre in ipairs({'w:', 'r:'}) do
      for _, m in ipairs(redis.call('ZRANGE', P .. pre .. id .. ':' .. ch, 0, -1)) do
        cs[#cs + 1] = contact(string.sub(m, 17))
      end
    end
  end
  for _, c in ipairs(cs) do
    take_waiting(c)
    put_waiting(c)
  end
  table.sort(cs, function(a, b)
    local ka, kb = ckey(a), ckey(b)
    if ka ~= kb then return ka < kb end
    return blt(a.m, b.m)
  end)
  for _, c in ipairs(cs) do route(c) end
  return ''
end
return reply(op())
