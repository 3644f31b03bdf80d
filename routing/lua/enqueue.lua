-- A new contact arrives. ARGV[3..]: contact, queue, channel, priority,
-- enqueued_at ms. It is offered at once when an agent is eligible.
local function op()
  advance()
  local id = ARGV[3]
  if redis.call('EXISTS', P .. 'c:' .. id) == 1 then return 'contact_exists' end
  local q = queue(ARGV[4])
  if not q then return 'unknown_queue' end
  if not q.chans[ARGV[5]] then return 'channel_not_served' end
  local enq = tonumber(ARGV[7])
  local c = {id = id, q = ARGV[4], ch = ARGV[5], p = tonumber(ARGV[6]), enq = enq,
    m = string.format('%015d|%s', enq, id), x = '', st = '', ag = '', exp = 0, rlx = 0, rx = 0}
  CC[id] = c
  redis.call('SADD', P .. 'contacts', id)
  -- The common case, an agent free at once, skips filing the contact only
  -- to take it out again: same outcome as put_waiting then route.
  if q.relax > 0 then c.rlx = enq + q.relax end
  if c.rlx > 0 and c.rlx <= NOW then c.rx = 1 end
  local aid = pick(c)
  cset(c, 'q', c.q, 'ch', c.ch, 'p', c.p, 'enq', enq, 'm', c.m, 'x', '', 'rlx', c.rlx, 'rx', c.rx)
  if aid then
    offer(c, agent(aid))
  else
    put_waiting(c)
  end
  return ''
end
return reply(op())
