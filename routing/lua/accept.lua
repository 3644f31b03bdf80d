-- The reserved agent accepts. ARGV[3..]: contact, agent. The agent's load
-- was counted at the offer; here the reservation becomes an assignment.
-- Info is '1' on the contact's first accept ever (within ACC_TTL), so the
-- caller meters it once, through transfers and re-offers.
local function op()
  advance()
  local c = contact(ARGV[3])
  if not c then return 'unknown_contact' end
  if c.st ~= 'o' or c.ag ~= ARGV[4] then return 'not_offered' end
  local x = agent(c.ag)
  redis.call('ZREM', RES, c.id)
  cset(c, 'st', 'a', 'exp', 0)
  redis.call('HSET', P .. 'ac:' .. x.id, c.id, 'a')
  x.miss = 0
  aset(x, 'miss', 0)
  if redis.call('SET', P .. 'acc:' .. c.id, '1', 'NX', 'PX', ACC_TTL) then return '', '1' end
  return '', '0'
end
return reply(op())
