-- Put back a contact the durable record says an agent holds, after Redis
-- lost the routing state: assigned to that agent, its load counted, with
-- no offer and nothing routed. ARGV[3..]: contact, queue, channel,
-- priority, enqueued_at ms, agent. The agent must be configured first
-- (any status: one offline still holds what it accepted); a capacity
-- below the load restored only stops new offers, as ever.
register('restore', function()
  advance()
  local id = ARGV[3]
  if redis.call('SADD', P .. 'contacts', id) == 0 then return 'contact_exists' end
  local q = queue(ARGV[4])
  local x = agent(ARGV[8])
  local refused = not q and 'unknown_queue' or not x and 'unknown_agent'
  if refused then
    redis.call('SREM', P .. 'contacts', id)
    return refused
  end
  local enq = tonumber(ARGV[7])
  local c = {id = id, q = ARGV[4], ch = ARGV[5], p = tonumber(ARGV[6]), enq = enq,
    m = string.format('%015d|%s', enq, id), x = '', st = 'a', ag = x.id, exp = 0, rlx = 0, rx = 0}
  CC[id] = c
  cset(c, 'q', c.q, 'ch', c.ch, 'p', c.p, 'enq', enq, 'm', c.m, 'x', '', 'st', 'a', 'ag', x.id, 'exp', 0,
    'rlx', 0, 'rx', 0)
  x.ld[c.ch] = (x.ld[c.ch] or 0) + 1
  x.held[id] = 'a'
  aset(x, 'l:' .. c.ch, x.ld[c.ch], 'h:' .. id, 'a')
  index(x, true)
  -- Accepted already: a later accept (after a transfer) is not a first one.
  redis.call('SET', P .. 'acc:' .. id, '1', 'NX', 'PX', ACC_TTL)
  return ''
end)
