-- Create or change an agent's routing profile. ARGV[3..]: id, skills
-- ("skill=level,..."), capacity ("chat=3,email=5"). A new agent starts
-- offline. Status, load and reservations are kept: a smaller capacity
-- never takes back what the agent already holds, it only stops offers.
register('configure_agent', function()
  advance()
  local id = ARGV[3]
  local x = agent(id)
  if x then
    local old = {}
    for ch in pairs(x.cap) do old[#old + 1] = 'c:' .. ch end
    if #old > 0 then redis.call('HDEL', P .. 'a:' .. id, unpack(old)) end
  else
    x = {id = id, cap = {}, ld = {}, mem = {}, held = {}, idle = NOW, miss = 0, st = 'offline', ix = {}, why = '', np = 0}
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
    local m = membership(x, queue(qid))
    if m then x.mem[#x.mem + 1] = m end
  end
  save_mem(x)
  -- Writes only the index entries that changed (and removes the ones of
  -- channels and queues it no longer has).
  index(x, true)
  pull(x)
  return ''
end)
