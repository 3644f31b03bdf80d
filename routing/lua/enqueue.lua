-- A new contact arrives. ARGV[3..]: contact, queue, channel, priority,
-- enqueued_at ms, preferred agent ('' none). It is offered at once when an
-- agent is eligible; with a preferred agent (known, not offline) and the
-- queue's preferred-agent window not over, only to that agent until then.
register('enqueue', function()
  advance()
  local id = ARGV[3]
  -- The live contacts' set says whether it exists, and takes it in.
  if redis.call('SADD', P .. 'contacts', id) == 0 then return 'contact_exists' end
  local q = queue(ARGV[4])
  local refused = not q and 'unknown_queue' or not q.chans[ARGV[5]] and 'channel_not_served'
  if refused then
    redis.call('SREM', P .. 'contacts', id)
    return refused
  end
  local enq = tonumber(ARGV[7])
  local c = {id = id, q = ARGV[4], ch = ARGV[5], p = tonumber(ARGV[6]), enq = enq,
    m = string.format('%015d|%s', enq, id), x = '', xu = 0, st = '', ag = '', exp = 0, rlx = 0, rx = 0,
    sk = 0, pa = '', pu = 0}
  CC[id] = c
  local pa = ARGV[8] or ''
  if pa ~= '' and q.pref > 0 and enq + q.pref > NOW then
    local y = agent(pa)
    if y and y.st ~= 'offline' then
      cset(c, 'q', c.q, 'ch', c.ch, 'p', c.p, 'enq', enq, 'm', c.m, 'x', '', 'rlx', 0, 'rx', 0, 'sk', 0)
      if free(y, c.ch) then
        offer(c, y)
      else
        put_preferred(c, y, enq + q.pref)
      end
      return ''
    end
  end
  -- The common case, an agent free at once, skips filing the contact only
  -- to take it out again: same outcome as put_waiting then route.
  c.sk, c.rx, c.rlx = stepstate(c, q)
  local aid = pick(c)
  cset(c, 'q', c.q, 'ch', c.ch, 'p', c.p, 'enq', enq, 'm', c.m, 'x', '', 'rlx', c.rlx, 'rx', c.rx, 'sk', c.sk)
  if aid then
    offer(c, agent(aid))
  else
    put_waiting(c)
  end
  return ''
end)
