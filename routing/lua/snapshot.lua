-- Read the whole routing state of the tenant, changing nothing (no
-- advance: what is due stays due until the next write): a no-writes
-- function, called with FCALL_RO.
-- Returns {{'a', id, status, idle, misses, capacity, load, held, why}, ...,
-- {'c', id, queue, channel, state, agent, expiry, excluded, priority, enq, relaxed, excluded until,
-- step, preferred agent, preferred until}, ...}
-- with capacity and load as "ch=n,..." strings, held as "contact,...":
-- the agent's side of the link, kept apart from the contact's own.
register('snapshot', function()
  local out = {}
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'agents')) do
    local x = agent(id)
    local caps, lds = {}, {}
    for _, ch in ipairs(CHANNELS) do
      if x.cap[ch] then caps[#caps + 1] = ch .. '=' .. x.cap[ch] end
      if (x.ld[ch] or 0) ~= 0 then lds[#lds + 1] = ch .. '=' .. x.ld[ch] end
    end
    local held = {}
    for c in pairs(x.held) do held[#held + 1] = c end
    out[#out + 1] = {'a', id, x.st, x.idle, x.miss, table.concat(caps, ','), table.concat(lds, ','), table.concat(held, ','), x.why}
  end
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'contacts')) do
    local c = contact(id)
    out[#out + 1] = {'c', id, c.q, c.ch, c.st, c.ag, c.exp, c.x, c.p, c.enq, c.rx, c.xu, c.sk, c.pa, c.pu}
  end
  return out
end, true)
