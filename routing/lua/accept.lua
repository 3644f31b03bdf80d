-- The reserved agent accepts. ARGV[3..]: contact, agent. The agent's load
-- was counted at the offer; here the reservation becomes an assignment.
-- Info is '1' on the contact's first accept ever (within ACC_TTL), so the
-- caller meters it once, through transfers and re-offers.
register('accept', function()
  advance()
  local c = contact(ARGV[3])
  if not c then return 'unknown_contact' end
  if c.st ~= 'o' or c.ag ~= ARGV[4] then return 'not_offered' end
  redis.call('ZREM', RES, c.id)
  cset(c, 'st', 'a', 'exp', 0)
  -- The agent's misses start again. Its hash need not be read for that.
  local x = AC[c.ag]
  if x then
    x.miss = 0
    x.held[c.id] = 'a'
    aset(x, 'miss', 0, 'h:' .. c.id, 'a')
  else
    redis.call('HSET', P .. 'a:' .. c.ag, 'miss', 0, 'h:' .. c.id, 'a')
  end
  if redis.call('SET', P .. 'acc:' .. c.id, '1', 'NX', 'PX', ACC_TTL) then return '', '1' end
  return '', '0'
end)
