-- Create or change a queue. ARGV[3..]: id, channels ("chat,email"),
-- required skills ("skill=min,..."), priority, relax_after ms (0 never),
-- strategy, offer timeout ms, max misses (0 never), re-offer block ms,
-- preferred-agent window ms (0 never), skill steps ("after ms=level,...",
-- in order, levels above 0).
-- Every agent's membership in the queue is recomputed and its waiting
-- contacts are refiled (priority and relax time may have changed) and
-- routed best first, since new requirements may match idle agents.
register('configure_queue', function()
  advance()
  -- What advance buffered goes first: the queue is re-read below.
  flush()
  local id = ARGV[3]
  -- ichans only grows: contacts may still wait on a channel the queue no
  -- longer serves, and they must find agents as before. A queue of an
  -- older version (no ichans) keeps every channel indexed.
  local prev = queue(id)
  local f = {'chans', ARGV[4], 'skills', ARGV[5], 'prio', ARGV[6], 'relax', ARGV[7], 'strat', ARGV[8],
    'offer', ARGV[9], 'maxm', ARGV[10], 'reo', ARGV[11], 'pref', ARGV[12], 'steps', ARGV[13]}
  if not prev or prev.ichans then
    local set = {}
    for ch in string.gmatch((prev and prev.ichans or '') .. ',' .. ARGV[4], '[^,]+') do set[ch] = true end
    local list = {}
    for _, ch in ipairs(CHANNELS) do
      if set[ch] then list[#list + 1] = ch end
    end
    f[#f + 1] = 'ichans'
    f[#f + 1] = table.concat(list, ',')
  end
  redis.call('HSET', P .. 'q:' .. id, unpack(f))
  if redis.call('SADD', P .. 'queues', id) == 1 then QL = nil end
  QC[id] = nil
  local q = queue(id)
  for _, aid in ipairs(redis.call('SMEMBERS', P .. 'agents')) do
    local x = agent(aid)
    local mem = {}
    for _, m in ipairs(x.mem) do
      if m.q ~= id then mem[#mem + 1] = m end
    end
    local nm = membership(x, q)
    if nm then mem[#mem + 1] = nm end
    x.mem = mem
    save_mem(x)
    index(x, true)
  end
  local cs = {}
  -- Waiting contacts at every step the queue has or had.
  local zs = {P .. 'w:' .. id, P .. 'r:' .. id}
  for s = 1, math.max(q.ns, prev and prev.ns or 0) do zs[#zs + 1] = P .. 'w:' .. id .. '|' .. s end
  for _, ch in ipairs(CHANNELS) do
    for _, z in ipairs(zs) do
      for _, m in ipairs(redis.call('ZRANGE', z .. ':' .. ch, 0, -1)) do
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
end)
