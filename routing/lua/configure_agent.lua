-- Create or change an agent's routing profile. ARGV[3..]: id, skills
-- ("skill=level,..."), capacity ("chat=3,email=5"). A new agent starts
-- offline. Status, load and reservations are kept: a smaller capacity
-- never takes back what the agent already holds, it only stops offers.
local function op()
  advance()
  local id = ARGV[3]
  local x = agent(id)
  if x then
    index(x, false)
    local old = {}
    for ch in pairs(x.cap) do old[#old + 1] = 'c:' .. ch end
    if #old > 0 then redis.call('HDEL', P .. 'a:' .. id, unpack(old)) end
  else
    x = {id = id, cap = {}, ld = {}, mem = {}, idle = NOW, miss = 0, st = 'offline'}
    AC[id] = x
    aset(x, 'st', 'offline', 'idle', NOW, 'miss', 0)
    redis.call('SADD', P .. 'agents', id)
  end
  x.skills = ARGV[4]
  x.cap = kv(ARGV[5])
  local f = {'skills', x.skills}
  for ch, n in pairs(x.cap) do
    f[#f + 1] = 'c:' .. ch
    f[#f + 1] = n
  end
  aset(x, unpack(f))
  x.mem = {}
  for _, qid in ipairs(queues()) do
    local q = queue(qid)
    local sum = qualify(x, q)
    if sum then x.mem[#x.mem + 1] = {q = qid, strat = q.strat, sum = sum} end
  end
  save_mem(x)
  index(x, true)
  pull(x)
  return ''
end
return reply(op())
